//! Workers sharing the tenants' daily syncs (`seatsync run --all`), and
//! each tenant's time of day.
//!
//! A worker is a row of `workers` that its process heart-beats. The row is
//! for people (`seatsync workers`) and for the locks it takes, which record
//! it (`locks.worker`); the coordination itself is the locks: a tenant's
//! sync holds `sync:<tenant>` and `site:<endpoints>` ([`super::lock`]),
//! taken in one transaction, so a due tenant is synced by one worker, and a
//! site sees one worker at a time.

use chrono::{DateTime, NaiveTime, Utc};

use super::db::{Conn, DbError, OptionalExtension, params};
use super::lock::{hostname, new_token, this_process};
use super::{Store, StoreError, Ts, check_tenant};

/// How long a worker's row stays after its last heartbeat before a new
/// worker clears it away (shown as gone until then).
const FORGET_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// A tenant's daily sync time and what the schedule compares it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSchedule {
    /// The tenant.
    pub tenant: String,
    /// Its time of day (UTC), `None` for the default.
    pub at: Option<NaiveTime>,
    /// When its last completed run started.
    pub last_run: Option<DateTime<Utc>>,
    /// When a daemon or worker first looked after it.
    pub first_started: Option<DateTime<Utc>>,
}

impl TenantSchedule {
    /// What a missed slot is compared with: its last completed run's start,
    /// else when it was first scheduled (`None`: never scheduled yet).
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.last_run.or(self.first_started)
    }

    /// The slot due at `now` for the time of day `at`: the latest one,
    /// if it passed with nothing completed since ([`crate::schedule::missed_slot`]).
    pub fn due_slot(&self, now: DateTime<Utc>, at: NaiveTime) -> Option<DateTime<Utc>> {
        crate::schedule::missed_slot(self.since(), now, at)
    }
}

/// Whether a worker still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// It heart-beat within the stale timeout.
    Live,
    /// Its process has ended, or it has not heart-beat for the stale
    /// timeout: the locks it held are taken over.
    Gone,
}

impl WorkerState {
    /// `live` or `gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Live => "live",
            WorkerState::Gone => "gone",
        }
    }
}

/// A lock a worker holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lock's name (`sync:<tenant>`, `site:<endpoints>`).
    pub name: String,
    /// When it was taken.
    pub since: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
}

/// A run a worker has in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningSync {
    /// The tenant.
    pub tenant: String,
    /// The run's id.
    pub run: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// A worker, as `seatsync workers` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Its id (random, one per process).
    pub id: String,
    /// Live or gone.
    pub state: WorkerState,
    /// Its host.
    pub hostname: String,
    /// Its process id there.
    pub pid: u32,
    /// How many tenants it syncs at once.
    pub jobs: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// The locks it holds.
    pub leases: Vec<Lease>,
    /// The runs it has in progress.
    pub running: Vec<RunningSync>,
}

impl Store {
    /// Sets the tenant's time of day for the daily sync (`None`: back to
    /// the default).
    pub fn set_sync_at(&self, tenant: &str, at: Option<NaiveTime>) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let ctx = "setting the sync time";
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;
        tx.execute(
            "UPDATE tenants SET sync_at = ?2 WHERE name = ?1",
            params![tenant, at.map(|t| t.format("%H:%M").to_string())],
        )
        .map_err(|e| self.err(ctx, e))?;
        tx.commit().map_err(|e| self.err(ctx, e))
    }

    /// The tenant's time of day for the daily sync, `None` if it keeps the
    /// default.
    pub fn sync_at(&self, tenant: &str) -> Result<Option<NaiveTime>, StoreError> {
        check_tenant(tenant)?;
        let at: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT sync_at FROM tenants WHERE name = ?1",
                [tenant],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err("reading the sync time", e))?;
        at.flatten().map(|at| parse_hhmm(&at)).transpose()
    }

    /// Every connected tenant's schedule, in one read.
    pub fn tenant_schedules(&self) -> Result<Vec<TenantSchedule>, StoreError> {
        let ctx = "reading the tenants' schedules";
        let e = |e| self.err(ctx, e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.tenant, t.sync_at, t.daemon_first_started_at,
                        (SELECT max(started_at) FROM runs r WHERE r.tenant = c.tenant
                            AND r.dry_run = 0 AND r.partial = 0
                            AND r.status IN ('succeeded', 'attention', 'failed'))
                 FROM connections c LEFT JOIN tenants t ON t.name = c.tenant
                 ORDER BY c.tenant",
            )
            .map_err(e)?;
        // The time of day is checked after the read: a bad stored value is
        // the store's error, not the database's.
        let rows: Vec<(TenantSchedule, Option<String>)> = stmt
            .query_map((), |r| {
                Ok((
                    TenantSchedule {
                        tenant: r.get(0)?,
                        at: None,
                        first_started: r.get::<_, Option<Ts>>(2)?.map(|t| t.0),
                        last_run: r.get::<_, Option<Ts>>(3)?.map(|t| t.0),
                    },
                    r.get(1)?,
                ))
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        // One tenant's unreadable time (written by hand in the database)
        // must not stop every tenant's schedule: it keeps the default, and
        // says so.
        Ok(rows
            .into_iter()
            .map(|(schedule, at)| {
                let at = match at.as_deref().map(parse_hhmm).transpose() {
                    Ok(at) => at,
                    Err(e) => {
                        tracing::warn!(tenant = %schedule.tenant, error = %e, "using the default sync time");
                        None
                    }
                };
                TenantSchedule { at, ..schedule }
            })
            .collect())
    }

    /// Records this process as a worker syncing `jobs` tenants at once,
    /// clears away workers gone for a day, and returns its id. Locks this
    /// store takes from now on record it.
    pub fn register_worker(&mut self, jobs: u32) -> Result<String, StoreError> {
        let ctx = "registering the worker";
        let e = |e| self.err(ctx, e);
        let id = new_token();
        let now = self.now();
        let tx = self.write_tx(ctx)?;
        tx.execute(
            "DELETE FROM workers WHERE heartbeat_at < ?1",
            [Ts(now - FORGET_AFTER)],
        )
        .map_err(e)?;
        insert_worker(&tx, &id, jobs, now).map_err(e)?;
        tx.commit().map_err(e)?;
        self.worker = Some(id.clone());
        Ok(id)
    }

    /// Runs this store as worker `id` (one registered by another store of
    /// the same process): the locks it takes record it.
    pub fn set_worker(&mut self, id: &str) {
        self.worker = Some(id.to_owned());
    }

    /// Refreshes the worker's heartbeat (recording it again if its row was
    /// cleared away while it was paused for a day).
    pub fn worker_heartbeat(&self, id: &str, jobs: u32) -> Result<(), StoreError> {
        let ctx = "refreshing the worker's heartbeat";
        let e = |e| self.err(ctx, e);
        let now = self.now();
        let tx = self.write_tx(ctx)?;
        let changed = tx
            .execute(
                "UPDATE workers SET heartbeat_at = ?2 WHERE id = ?1",
                params![id, Ts(now)],
            )
            .map_err(e)?;
        if changed == 0 {
            insert_worker(&tx, id, jobs, now).map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// Removes the worker's row (it stops).
    pub fn end_worker(&self, id: &str) -> Result<(), StoreError> {
        let ctx = "removing the worker";
        let tx = self.write_tx(ctx)?;
        tx.execute("DELETE FROM workers WHERE id = ?1", [id])
            .map_err(|e| self.err(ctx, e))?;
        tx.commit().map_err(|e| self.err(ctx, e))
    }

    /// Every worker recorded, live ones first, with its leases and runs.
    pub fn workers(&self) -> Result<Vec<WorkerInfo>, StoreError> {
        let ctx = "listing the workers";
        let e = |e| self.err(ctx, e);
        let tx = self.read_tx(ctx)?;
        let now = self.now();
        type WorkerRow = (String, u32, String, Option<String>, u32, Ts, Ts);
        let rows: Vec<WorkerRow> = tx
            .prepare(
                "SELECT id, pid, hostname, process, jobs, started_at, heartbeat_at
                 FROM workers ORDER BY started_at, id",
            )
            .map_err(e)?
            .query_map((), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut workers = Vec::with_capacity(rows.len());
        for (id, pid, hostname, process, jobs, started, heartbeat) in rows {
            let gone = !self.is_live(pid, process.as_deref(), heartbeat.0, now);
            let leases: Vec<Lease> = tx
                .prepare(
                    "SELECT name, acquired_at, heartbeat_at FROM locks WHERE worker = ?1
                     ORDER BY name",
                )
                .map_err(e)?
                .query_map([&id], |r| {
                    Ok(Lease {
                        name: r.get(0)?,
                        since: r.get::<_, Ts>(1)?.0,
                        heartbeat_at: r.get::<_, Ts>(2)?.0,
                    })
                })
                .map_err(e)?
                .collect::<Result<_, _>>()
                .map_err(e)?;
            let running: Vec<RunningSync> = tx
                .prepare(
                    "SELECT r.tenant, r.id, r.started_at FROM runs r
                     JOIN locks l ON l.token = r.lock_token AND l.name = 'sync:' || r.tenant
                     WHERE l.worker = ?1 AND r.status = 'running' ORDER BY r.id",
                )
                .map_err(e)?
                .query_map([&id], |r| {
                    Ok(RunningSync {
                        tenant: r.get(0)?,
                        run: r.get(1)?,
                        started_at: r.get::<_, Ts>(2)?.0,
                    })
                })
                .map_err(e)?
                .collect::<Result<_, _>>()
                .map_err(e)?;
            workers.push(WorkerInfo {
                id,
                state: if gone {
                    WorkerState::Gone
                } else {
                    WorkerState::Live
                },
                hostname,
                pid,
                jobs,
                started_at: started.0,
                heartbeat_at: heartbeat.0,
                leases,
                running,
            });
        }
        workers.sort_by_key(|w| w.state != WorkerState::Live);
        Ok(workers)
    }
}

/// Records this process as worker `id`.
fn insert_worker(tx: &Conn, id: &str, jobs: u32, now: DateTime<Utc>) -> Result<usize, DbError> {
    tx.execute(
        "INSERT INTO workers (id, pid, hostname, process, jobs, started_at, heartbeat_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            id,
            std::process::id(),
            hostname(),
            this_process(),
            jobs,
            Ts(now)
        ],
    )
}

/// Reads a stored `HH:MM`.
fn parse_hhmm(at: &str) -> Result<NaiveTime, StoreError> {
    NaiveTime::parse_from_str(at, "%H:%M").map_err(|_| {
        StoreError::InvalidInput(format!(
            "the stored sync time {at:?} is not HH:MM; set it again with `seatsync schedule set --at HH:MM`"
        ))
    })
}
