//! `seatsync run --all`: a worker, one of any number on any number of
//! machines sharing one database, that syncs every connected tenant once a
//! day at the tenant's own time.
//!
//! Workers share nothing but the store. Each job of a worker (a thread
//! with its own store connection) looks for a due tenant, one whose latest
//! slot passed with no completed run at or after it (`TenantSchedule::due_slot`),
//! and syncs it. The sync takes the tenant's lock and its PSA site's lock
//! in one transaction (`sync::sync_tenant`), so a tenant is synced by one
//! worker, a site sees one worker at a time, and a job that finds them
//! taken moves on to another tenant. Under the locks, the run first checks
//! the slot is still not synced (another worker may have finished it in
//! between): that check and the locks make each slot one run, whatever the
//! number of workers. A worker that dies leaves its locks to be taken over
//! (at once on its own host, after the stale timeout elsewhere), and the
//! next worker redoes the interrupted tenant: the connector reads before it
//! writes and the write journal settles what was in flight, so nothing is
//! written twice.
//!
//! Same-day retries of organizations that failed for a transient reason
//! stay with the worker that ran the slot (in memory): if it stops, they
//! wait for the next day's slot, as with `seatsync run`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock};
use crate::daemon::{self, DaemonOptions, SameDayRetry, SlotResult};
use crate::runtime::Runtime;
use crate::store::{KeySource, Store, StoreError, site_of_lock, sync_lock_name};
use crate::sync::{SyncError, SyncSummary, sync_tenant};

/// How often an idle job looks for due tenants, and how often the worker
/// heart-beats, by default.
pub const DEFAULT_POLL: Duration = Duration::from_secs(15);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Tenants synced at once (each on a thread of its own; at least 1).
    pub jobs: usize,
    /// How often an idle job looks for due tenants.
    pub poll: Duration,
    /// The time of day of tenants that set none.
    pub default_at: NaiveTime,
    /// How each run goes: concurrency, pauses, same-day retries,
    /// notifications (the tenant and time are each tenant's).
    pub template: DaemonOptions,
}

/// What a worker works on.
#[derive(Clone)]
pub struct WorkerSetup {
    /// The database (a file, or a PostgreSQL URL).
    pub db: PathBuf,
    /// Where the key sealing the secrets comes from.
    pub keys: KeySource,
    /// The clock.
    pub clock: SystemClock,
    /// The connector.
    pub runtime: Arc<Runtime>,
}

/// Told about each run a worker made: the tenant, the slot, the result.
pub type OnRun = Arc<dyn Fn(&str, DateTime<Utc>, &SlotResult) + Send + Sync>;

/// A same-day retry this worker owes.
#[derive(Debug, Clone)]
struct Retry {
    tenant: String,
    /// The tenant's time of day.
    daily: NaiveTime,
    retry: SameDayRetry,
}

/// Work a job may take.
#[derive(Debug, Clone)]
enum Job {
    /// A tenant's daily slot.
    Slot {
        tenant: String,
        slot: DateTime<Utc>,
        at: NaiveTime,
    },
    /// A same-day retry.
    Retry(Retry),
}

/// What the jobs of one worker share.
struct Shared {
    setup: WorkerSetup,
    options: WorkerOptions,
    worker: String,
    retries: Mutex<Vec<Retry>>,
    /// The latest slot a job of this worker took per tenant: not taken
    /// again by another job, nor tried again until the next slot when it
    /// recorded no completed run (nothing to sync, or a sync that could
    /// not start), as the daemon does.
    handled: Mutex<HashMap<String, DateTime<Utc>>>,
    /// The site lock of each tenant found busy, so that a tenant whose site
    /// is taken is skipped with a read instead of a sync's set-up.
    sites: Mutex<HashMap<String, String>>,
    on_run: OnRun,
}

/// Locks a mutex, through a poisoning (a panicked job leaves its maps as
/// they were: still valid).
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers the worker, runs its jobs until `stop` turns true (a run in
/// progress is finished first), and removes the worker's row.
pub async fn run(
    setup: WorkerSetup,
    options: WorkerOptions,
    stop: watch::Receiver<bool>,
    on_run: OnRun,
) -> Result<(), StoreError> {
    let jobs = options.jobs.max(1);
    // As the workers' table records it.
    let recorded_jobs = u32::try_from(jobs).unwrap_or(u32::MAX);
    let mut store = open(&setup)?;
    let worker = store.register_worker(recorded_jobs)?;
    tracing::info!(%worker, jobs, "worker started");
    let poll = options.poll;
    let shared = Arc::new(Shared {
        setup,
        options,
        worker: worker.clone(),
        retries: Mutex::new(Vec::new()),
        handled: Mutex::new(HashMap::new()),
        sites: Mutex::new(HashMap::new()),
        on_run,
    });
    let handle = tokio::runtime::Handle::current();
    let mut threads = Vec::with_capacity(jobs);
    for n in 0..jobs {
        let (shared, stop, handle) = (shared.clone(), stop.clone(), handle.clone());
        let thread = std::thread::Builder::new()
            .name(format!("worker job {n}"))
            .spawn(move || handle.block_on(job(shared, stop)))
            .map_err(|e| StoreError::InvalidInput(format!("cannot start a worker job: {e}")))?;
        threads.push(thread);
    }
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        if let Err(e) = store.worker_heartbeat(&worker, recorded_jobs) {
            tracing::warn!(error = %e, "cannot refresh the worker's heartbeat");
        }
    }
    let _ = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
    .await;
    store.end_worker(&worker)
}

fn open(setup: &WorkerSetup) -> Result<Store, StoreError> {
    let mut store = Store::open_with_key(&setup.db, setup.keys.clone())?;
    store.set_clock(setup.clock.as_fn());
    Ok(store)
}

/// One job: take due work, one tenant at a time, until stopped.
async fn job(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    // A database that cannot be opened now (a server restarting) is tried
    // again at each look, rather than leave the worker a job short.
    let mut store = loop {
        match open(&shared.setup) {
            Ok(store) => break store,
            Err(e) => tracing::error!(error = %e, "a worker job cannot open the database"),
        }
        if !pause(&shared, &mut stop).await {
            return;
        }
    };
    store.set_worker(&shared.worker);
    while !*stop.borrow() {
        let worked = match take_work(&store, &shared).await {
            Ok(worked) => worked,
            Err(e) => {
                tracing::error!(error = %e, "a worker job cannot read the schedule");
                false
            }
        };
        if !worked && !pause(&shared, &mut stop).await {
            return;
        }
    }
}

/// Waits a look's interval; `false` once the worker is told to stop (or
/// can no longer be told: its sender is gone).
async fn pause(shared: &Shared, stop: &mut watch::Receiver<bool>) -> bool {
    let slept = tokio::select! {
        _ = tokio::time::sleep(shared.options.poll) => true,
        _ = stop.wait_for(|s| *s) => false,
    };
    slept && !*stop.borrow()
}

/// Runs the first due job no other worker holds; `false` if there was none.
async fn take_work(store: &Store, shared: &Shared) -> Result<bool, StoreError> {
    // One read tells which tenants and sites are being synced: those are
    // skipped at once, without a sync's set-up (the locks decide anyway).
    let held = store.live_locks()?;
    let mut jobs = due_jobs(store, shared)?.into_iter();
    // The same-day retries taken out of the list and not run go back.
    let give_back = |jobs: std::vec::IntoIter<Job>| {
        for job in jobs {
            if let Job::Retry(retry) = job {
                owe(shared, retry);
            }
        }
    };
    while let Some(job) = jobs.next() {
        let (tenant, slot) = match &job {
            Job::Slot { tenant, slot, .. } => (tenant.clone(), *slot),
            Job::Retry(r) => (r.tenant.clone(), r.retry.slot),
        };
        let site_taken = locked(&shared.sites)
            .get(&tenant)
            .is_some_and(|site| held.contains(site));
        if site_taken || held.contains(&sync_lock_name(&tenant)) {
            if let Job::Retry(retry) = job {
                owe(shared, retry);
            }
            continue;
        }
        // A slot is taken by one job of this worker: the others, which
        // listed it due at the same time, skip it. (Between workers, the
        // locks and the slot's re-check decide.)
        let mut before = None;
        if matches!(job, Job::Slot { .. }) {
            let mut handled = locked(&shared.handled);
            let last = handled.get(&tenant).copied();
            if last.is_some_and(|last| last >= slot) {
                continue;
            }
            handled.insert(tenant.clone(), slot);
            before = Some(last);
        }
        let mut options = DaemonOptions {
            tenant: tenant.clone(),
            ..shared.options.template.clone()
        };
        // A slot's run re-checks its slot under the locks; a retry's does
        // not (its slot already ran).
        let (daily, orgs, slot_of_run) = match &job {
            Job::Slot { at, .. } => (*at, Vec::new(), Some(slot)),
            Job::Retry(retry) => (retry.daily, retry.retry.orgs.clone(), None),
        };
        options.at = daily;
        let run = daemon::run_options(
            &options,
            &shared.setup.runtime,
            &shared.setup.clock,
            slot_of_run,
            orgs,
        );
        let result = sync_tenant(store, shared.setup.runtime.clone(), &tenant, &run, &mut ()).await;
        match result {
            // Another worker has it, or the tenant's site: try another.
            Err(SyncError::Store(StoreError::LockBusy(holder))) => {
                tracing::debug!(%tenant, %holder, "busy; trying another tenant");
                // Not taken after all: due again at the next look.
                if let Some(last) = before {
                    let mut handled = locked(&shared.handled);
                    match last {
                        Some(last) => handled.insert(tenant.clone(), last),
                        None => handled.remove(&tenant),
                    };
                }
                if site_of_lock(&holder.name).is_some() {
                    locked(&shared.sites).insert(tenant.clone(), holder.name.clone());
                }
                if let Job::Retry(retry) = job {
                    owe(shared, retry);
                }
                continue;
            }
            Err(SyncError::AlreadySynced { .. }) => continue,
            // A slot's run, whatever it recorded (a completed run, nothing
            // to sync, or a sync that could not start), stays handled until
            // the next slot: `handled` was marked above.
            result => {
                let failed = result
                    .as_ref()
                    .map(SyncSummary::transiently_failed)
                    .unwrap_or_default();
                let mut slot_result = daemon::slot_result(store, &options, result).await;
                let attempt = match job {
                    Job::Slot { .. } => 0,
                    Job::Retry(retry) => {
                        slot_result = SlotResult::Retried {
                            attempt: retry.retry.attempt,
                            result: Box::new(slot_result),
                        };
                        retry.retry.attempt
                    }
                };
                (shared.on_run)(&tenant, slot, &slot_result);
                plan_retry(shared, &options, &tenant, slot, attempt, failed);
                give_back(jobs);
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The jobs due now: this worker's same-day retries first, then tenants
/// whose slot passed unsynced, the longest waiting first.
fn due_jobs(store: &Store, shared: &Shared) -> Result<Vec<Job>, StoreError> {
    let now = shared.setup.clock.now();
    // Read first: an error here must not lose the retries taken below.
    let schedules = store.tenant_schedules()?;
    let mut jobs: Vec<Job> = {
        let mut retries = locked(&shared.retries);
        let (due, later): (Vec<Retry>, Vec<Retry>) =
            retries.drain(..).partition(|r| r.retry.at <= now);
        *retries = later;
        due.into_iter().map(Job::Retry).collect()
    };
    let mut slots = Vec::new();
    for tenant in schedules {
        let at = tenant.at.unwrap_or(shared.options.default_at);
        if tenant.since().is_none() {
            // First seen: from now on, a slot that passes is due (a tenant
            // connected at 09:00 is not synced at once for 06:00). A
            // failure is tried again at the next look.
            if let Err(e) = store.note_daemon_started(&tenant.tenant) {
                tracing::warn!(tenant = %tenant.tenant, error = %e, "cannot record when the tenant was first scheduled");
            }
            continue;
        }
        if let Some(slot) = tenant.due_slot(now, at)
            && locked(&shared.handled)
                .get(&tenant.tenant)
                .is_none_or(|handled| *handled < slot)
        {
            slots.push((slot, tenant.tenant, at));
        }
    }
    slots.sort();
    jobs.extend(
        slots
            .into_iter()
            .map(|(slot, tenant, at)| Job::Slot { tenant, slot, at }),
    );
    Ok(jobs)
}

/// Keeps a same-day retry for later.
fn owe(shared: &Shared, retry: Retry) {
    locked(&shared.retries).push(retry);
}

/// After a run: organizations still failed for a transient reason are tried
/// again later the same day, a few times, before the next slot (as the
/// single-tenant daemon does).
fn plan_retry(
    shared: &Shared,
    options: &DaemonOptions,
    tenant: &str,
    slot: DateTime<Utc>,
    attempt: u32,
    failed: Vec<String>,
) {
    let now = shared.setup.clock.now();
    if let Some(retry) = SameDayRetry::after(options, now, slot, attempt, failed) {
        tracing::warn!(
            %tenant, orgs = ?retry.orgs, at = %retry.at, attempt = retry.attempt,
            "organizations failed for a transient reason; trying them again later today"
        );
        owe(
            shared,
            Retry {
                tenant: tenant.to_owned(),
                daily: options.at,
                retry,
            },
        );
    }
}
