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

/// Implements `as_str`, `Display`, and the database conversions for an
/// enum stored as text (defined before the modules below, which use it).
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
        impl $crate::store::db::ToValue for $ty {
            fn to_value(&self) -> $crate::store::db::Value {
                $crate::store::db::Value::Text(self.as_str().to_owned())
            }
        }
        impl $crate::store::db::FromValue for $ty {
            fn from_value(
                value: &$crate::store::db::Value,
            ) -> Result<Self, $crate::store::db::DbError> {
                let s = <String as $crate::store::db::FromValue>::from_value(value)?;
                $ty::parse(&s).ok_or_else(|| {
                    $crate::store::db::DbError::conversion(format!(
                        "unknown {} {s:?}",
                        stringify!($ty)
                    ))
                })
            }
        }
    };
}

mod console;
mod db;
mod ends;
mod journal;
mod lock;
mod mappings;
mod notify;
mod open;
mod plans;
mod runs;
mod schema;
mod schema_postgres;
mod sealing;
mod secrets;
#[doc(hidden)]
pub mod testing;
mod workers;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
pub use db::DbError;
use db::{Begin, Conn, FromValue, OptionalExtension, ToValue, Tx, Value, params};
use open::sidecar;
use seatsync_contract::Settings;
use thiserror::Error;

pub use console::{Account, Role, RunStats, Session};
pub use ends::{Confirmation, EndState, LatestConflict, LineEnd, NewLineEnd};
pub use journal::{JournalEntry, NewWrite, WriteResolution, WriteState};
pub use lock::{
    DEFAULT_LOCK_STALE_AFTER, Fence, FenceScope, LockGuard, LockInfo, site_lock_name, site_of_lock,
    sync_lock_name,
};
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
pub use workers::{Lease, RunningSync, TenantSchedule, WorkerInfo, WorkerState};

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
    /// The database could not be opened.
    #[error(
        "cannot open the database {path}: {source}; check the file's permissions, or pass --db with another path"
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// The database's error.
        source: DbError,
    },
    /// The file is not an SQLite database at all.
    #[error(
        "{path} is not a seatsync database (file is not a database): move it away or pass --db with another path"
    )]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// The file (or PostgreSQL schema) holds another program's tables.
    #[error(
        "{path} is a database but not a seatsync one: move it away or pass --db with another path (PostgreSQL: another database, or a schema of its own in the URL's search_path)"
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
        /// The database's error.
        source: DbError,
    },
    /// The database reports itself damaged.
    #[error(
        "the database {path} is damaged ({source}): restore it from a backup, or move it away and set up seatsync again"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The database's error.
        source: DbError,
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
    Database {
        /// What was being done.
        context: &'static str,
        /// The database's error.
        source: DbError,
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
    /// The database file, or a PostgreSQL URL without its password (for
    /// messages).
    path: PathBuf,
    /// The PostgreSQL URL as given (it may hold a password: never shown).
    url: Option<String>,
    conn: Conn,
    clock: Clock,
    lock_stale_after: Duration,
    /// Where the key sealing secrets comes from ([`sealing`]).
    keys: KeySource,
    /// The keys, loaded the first time a secret is sealed or opened.
    keyring: std::cell::OnceCell<sealing::Keyring>,
    /// The lock holding every write transaction checks first, while a
    /// sync runs ([`Store::fence`]).
    fence: std::cell::RefCell<Option<lock::Fence>>,
    /// The worker this store's process runs as (`seatsync run --all`),
    /// recorded with the locks it takes.
    worker: Option<String>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Formats a time the way the database stores it (sortable text).
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads a time column.
fn parse_ts(s: &str) -> Result<DateTime<Utc>, DbError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| DbError::conversion(format!("not a time ({e}): {s:?}")))
}

/// A `DateTime<Utc>` column (stored as RFC 3339 text, which sorts as time).
struct Ts(DateTime<Utc>);

impl FromValue for Ts {
    fn from_value(value: &Value) -> Result<Self, DbError> {
        parse_ts(&String::from_value(value)?).map(Ts)
    }
}

impl ToValue for Ts {
    fn to_value(&self) -> Value {
        Value::Text(ts(self.0))
    }
}

/// Classifies a database error of an operation.
fn db_error(path: &Path, context: &'static str, source: DbError) -> StoreError {
    if source.is_busy() {
        StoreError::Busy {
            path: path.to_owned(),
            context,
        }
    } else if source.is_corrupt() {
        StoreError::Corrupt {
            path: path.to_owned(),
            source,
        }
    } else {
        StoreError::Database { context, source }
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
        Store::open_with_key(path, KeySource::from_env()?)
    }

    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date, sealing secrets with the key `keys` names.
    /// Secrets an older seatsync stored in clear are sealed now.
    pub fn open_with_key(path: impl AsRef<Path>, keys: KeySource) -> Result<Store, StoreError> {
        let given = path.as_ref().to_owned();
        let (conn, path, url) = match open::postgres_url(&given) {
            Some(url) => {
                if matches!(keys, KeySource::BesideDatabase) {
                    return Err(StoreError::SecretKey(
                        "a PostgreSQL database has no folder to keep its key file in: give the key that seals its \
                         secrets with --secret-key-file (or SEATSYNC_SECRET_KEY_FILE, or SEATSYNC_SECRET_KEY); \
                         `seatsync secrets new-key FILE` makes one"
                            .to_string(),
                    ));
                }
                let shown = PathBuf::from(open::shown_url(url));
                (
                    open::open_postgres(url, &shown)?,
                    shown,
                    Some(url.to_owned()),
                )
            }
            None => (open::open_sqlite(&given)?, given, None),
        };
        let store = Store {
            url,
            path,
            conn,
            clock: Arc::new(Utc::now),
            lock_stale_after: DEFAULT_LOCK_STALE_AFTER,
            keys,
            keyring: std::cell::OnceCell::new(),
            fence: std::cell::RefCell::new(None),
            worker: None,
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
        open::create_at_schema_version(path.as_ref(), version)
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
    /// settings, and the same fence ([`Store::fence`]) for as long as it
    /// lives: for a thread that writes alongside this one (the write
    /// journal, whose records are what lets a write go to the PSA, so a
    /// holder that lost its lock must not make them).
    pub fn reopen(&self) -> Result<Store, StoreError> {
        let location = self.url.as_deref().map_or(self.path.clone(), PathBuf::from);
        let mut store = Store::open_with_key(location, self.keys.clone())?;
        store.clock = self.clock.clone();
        store.lock_stale_after = self.lock_stale_after;
        store.fence = std::cell::RefCell::new(self.fence.borrow().clone());
        store.worker = self.worker.clone();
        Ok(store)
    }

    /// A write transaction (`BEGIN IMMEDIATE`: take the write lock up front,
    /// so two writers wait for each other instead of one failing halfway).
    /// While the store is fenced, it first checks the fence's holding.
    fn write_tx(&self, context: &'static str) -> Result<Tx<'_>, StoreError> {
        let tx = self
            .conn
            .transaction(Begin::Write)
            .map_err(|e| self.err(context, e))?;
        // An error drops `tx`, which rolls the empty transaction back.
        self.check_fence(&tx)?;
        Ok(tx)
    }

    /// A read transaction: one consistent snapshot for multi-query reads.
    fn read_tx(&self, context: &'static str) -> Result<Tx<'_>, StoreError> {
        self.conn
            .transaction(Begin::Read)
            .map_err(|e| self.err(context, e))
    }

    /// Another connection to the same database (a lock keeps its own).
    fn connect_again(&self) -> Result<Conn, StoreError> {
        match &self.url {
            Some(url) => open::connect_postgres(url, &self.path).map(Conn::Postgres),
            None => Ok(Conn::Sqlite(open::connect(&self.path)?)),
        }
    }

    fn err(&self, context: &'static str, e: DbError) -> StoreError {
        db_error(&self.path, context, e)
    }

    /// Records the tenant if it is new.
    fn touch_tenant(&self, tx: &Conn, tenant: &str) -> Result<(), StoreError> {
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
            .query_map((), |r| r.get(0))
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
            params![tenant, conn.allow_http, ca_file, Ts(self.now())],
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
                params![tenant, key, value],
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
            params![tenant, data_type.as_str(), enabled],
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
