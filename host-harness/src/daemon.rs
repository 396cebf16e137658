//! `seatsync run`: sync once a day at a fixed UTC time, catching up once at
//! start-up when a slot was missed, until told to stop.
//!
//! Time comes from a [`Clock`], so tests can run days of slots in
//! milliseconds; the real clock sleeps with tokio. The sync lock lives in
//! the database (see `store::lock`), so two daemons on one database never
//! sync at once: the second finds the lock taken and skips the slot.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, NaiveTime, Utc};

pub use crate::clock::{Clock, SystemClock};

use crate::runtime::Runtime;
use crate::schedule;
use crate::store::{Store, StoreError, Trigger};
use crate::sync::{DEFAULT_RETRY_PAUSE, SyncError, SyncOptions, SyncSummary, sync_tenant};

/// How long the daemon waits before trying a slot again when another
/// process held the sync lock.
pub const BUSY_RETRY: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What the daemon did in one slot.
#[derive(Debug)]
pub enum SlotResult {
    /// The sync ran (it may have failed for some organizations).
    Synced(Box<SyncSummary>),
    /// Another process holds the sync lock; the slot is tried again
    /// [`BUSY_RETRY`] later (until the next slot).
    Busy(String),
    /// The sync could not run (no connection, database error); the daemon
    /// goes on to the next slot.
    Failed(String),
    /// Another process (a worker, a manual sync) completed a run of the
    /// slot first; nothing was done.
    AlreadySynced,
    /// A same-day retry of the organizations the slot's run (or the
    /// previous retry) left failed for a transient reason.
    Retried {
        /// 1 for the first retry of the slot.
        attempt: u32,
        /// The retry's run, or why it could not run.
        result: Box<SlotResult>,
    },
}

impl SlotResult {
    /// The run's summary, for a slot or a retry that ran.
    pub fn summary(&self) -> Option<&SyncSummary> {
        match self {
            SlotResult::Synced(summary) => Some(summary),
            SlotResult::Retried { result, .. } => result.summary(),
            SlotResult::Busy(_) | SlotResult::Failed(_) | SlotResult::AlreadySynced => None,
        }
    }
}

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The tenant to sync.
    pub tenant: String,
    /// The UTC time of day of the slot.
    pub at: NaiveTime,
    /// Organizations in flight at once.
    pub concurrency: usize,
    /// Stop after this many runs, slots and same-day retries together
    /// (tests); `None` runs until `stop`.
    pub max_slots: Option<u32>,
    /// The pause before a run tries its transiently failed organizations
    /// once more (`None`: not at the end of the run).
    pub retry_pause: Option<std::time::Duration>,
    /// How long after a run the organizations it left failed for a
    /// transient reason are tried again ([`RETRY_EVERY`]).
    pub retry_every: chrono::TimeDelta,
    /// How many such retries a slot gets ([`MAX_RETRIES`]); 0 for none.
    pub max_retries: u32,
    /// The settle window of the write journal; `None`: from the runtime's
    /// limits ([`crate::sync::settle_window`]).
    pub settle_window: Option<std::time::Duration>,
    /// How notifications after each run are retried.
    pub notify: crate::notify::DeliveryOptions,
}

impl DaemonOptions {
    /// The daemon of `tenant`, syncing daily at `at` (UTC): four
    /// organizations at once, failed ones tried again after
    /// [`DEFAULT_RETRY_PAUSE`] and then [`MAX_RETRIES`] times every
    /// [`RETRY_EVERY`], until stopped.
    pub fn new(tenant: impl Into<String>, at: NaiveTime) -> DaemonOptions {
        DaemonOptions {
            tenant: tenant.into(),
            at,
            concurrency: 4,
            max_slots: None,
            retry_pause: Some(DEFAULT_RETRY_PAUSE),
            retry_every: RETRY_EVERY,
            max_retries: MAX_RETRIES,
            settle_window: None,
            notify: crate::notify::DeliveryOptions::default(),
        }
    }
}

/// How long after a run the daemon tries again the organizations it left
/// failed for a transient reason.
pub const RETRY_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// How many times a day's organizations are tried again after the slot.
pub const MAX_RETRIES: u32 = 3;

/// Organizations to try again later the same day.
#[derive(Debug, Clone)]
pub(crate) struct SameDayRetry {
    /// The slot whose run left them failed.
    pub(crate) slot: DateTime<Utc>,
    /// 1 for the first retry.
    pub(crate) attempt: u32,
    /// Their ids.
    pub(crate) orgs: Vec<String>,
    /// When to run it.
    pub(crate) at: DateTime<Utc>,
}

impl SameDayRetry {
    /// The retry owed after run `attempt` of `slot` (0: the slot's own
    /// run) left `failed` failed for a transient reason, at `now`: one
    /// [`DaemonOptions::retry_every`] later, unless the day's retries are
    /// used up or it would come at or after the next slot. The daemon and
    /// the workers both ask this.
    pub(crate) fn after(
        options: &DaemonOptions,
        now: DateTime<Utc>,
        slot: DateTime<Utc>,
        attempt: u32,
        failed: Vec<String>,
    ) -> Option<SameDayRetry> {
        let at = now + options.retry_every;
        (!failed.is_empty()
            && attempt < options.max_retries
            && at < schedule::next_fire(slot, options.at))
        .then_some(SameDayRetry {
            slot,
            attempt: attempt + 1,
            orgs: failed,
            at,
        })
    }
}

/// Runs the daemon until `stop` resolves (or `max_slots` slots ran).
/// `on_slot` is told about each slot as it finishes. A sync in progress when
/// `stop` resolves is finished first, so its run is recorded completely.
pub async fn run<C: Clock>(
    store: &Store,
    runtime: Arc<Runtime>,
    clock: &C,
    options: &DaemonOptions,
    stop: impl Future<Output = ()>,
    mut on_slot: impl FnMut(DateTime<Utc>, &SlotResult),
) -> Result<(), StoreError> {
    let first_started = store.note_daemon_started(&options.tenant)?;
    let mut slots = 0u32;
    tokio::pin!(stop);

    // Catch up once if the last slot passed without a run.
    let last = store
        .last_completed_run_start(&options.tenant)?
        .or(Some(first_started));
    // (the slot, when to run it): a missed slot runs now.
    let mut due =
        schedule::missed_slot(last, clock.now(), options.at).map(|slot| (slot, clock.now()));
    if let Some((slot, _)) = due {
        tracing::info!(%slot, "catching up the missed sync slot");
    }
    let mut last_slot: Option<DateTime<Utc>> = None;
    let mut retry: Option<SameDayRetry> = None;
    loop {
        let (slot, run_at, retrying) = match due.take() {
            Some((slot, at)) => (slot, at, None),
            None => {
                // Never before the slot just run: a wall clock stepped back
                // during the sleep must not run the same slot twice.
                let now = clock.now();
                let after = last_slot.map_or(now, |last| last.max(now));
                let next = schedule::next_fire(after, options.at);
                match retry.take() {
                    Some(r) if r.at < next => {
                        tracing::info!(slot = %r.slot, at = %r.at, attempt = r.attempt, "next: trying failed organizations again");
                        (r.slot, r.at, Some(r))
                    }
                    _ => {
                        tracing::info!(%next, "next sync");
                        (next, next, None)
                    }
                }
            }
        };
        if run_at > clock.now() {
            tokio::select! {
                _ = clock.sleep_until(run_at) => {}
                _ = &mut stop => return Ok(()),
            }
        }
        let result = match &retrying {
            None => {
                run_slot(
                    store,
                    runtime.clone(),
                    clock,
                    options,
                    Some(slot),
                    Vec::new(),
                )
                .await
            }
            Some(r) => SlotResult::Retried {
                attempt: r.attempt,
                result: Box::new(
                    run_slot(store, runtime.clone(), clock, options, None, r.orgs.clone()).await,
                ),
            },
        };
        on_slot(slot, &result);
        last_slot = Some(slot);
        slots += 1;
        // Organizations still failed for a transient reason are tried again
        // later the same day, a few times, before the next slot.
        let attempt = retrying.as_ref().map_or(0, |r| r.attempt);
        let failed = result
            .summary()
            .map(SyncSummary::transiently_failed)
            .unwrap_or_default();
        if !failed.is_empty() {
            match SameDayRetry::after(options, clock.now(), slot, attempt, failed.clone()) {
                Some(next) => {
                    tracing::warn!(
                        orgs = ?next.orgs, at = %next.at, attempt = next.attempt, of = options.max_retries,
                        "organizations failed for a transient reason; trying them again later today"
                    );
                    retry = Some(next);
                }
                None => {
                    tracing::warn!(orgs = ?failed, "organizations still failed; the next slot tries them again")
                }
            }
        }
        if options.max_slots.is_some_and(|max| slots >= max) {
            return Ok(());
        }
        // A retry that found the tenant or its site busy is tried again a
        // little later (it would otherwise end the day's retries).
        if let (SlotResult::Retried { result: inner, .. }, Some(r)) = (&result, &retrying)
            && matches!(**inner, SlotResult::Busy(_))
            && retry.is_none()
        {
            let at = clock.now() + BUSY_RETRY;
            if at < schedule::next_fire(slot, options.at) {
                retry = Some(SameDayRetry { at, ..r.clone() });
            }
        }
        // Another process was syncing (a manual run, say): try this slot
        // again a little later rather than skip the day, until the next slot.
        if matches!(result, SlotResult::Busy(_)) {
            let retry = clock.now() + BUSY_RETRY;
            if retry < schedule::next_fire(slot, options.at) {
                tracing::info!(%slot, %retry, "another process is syncing; trying this slot again later");
                due = Some((slot, retry));
            }
        }
        // A stop that arrived during the sync ends the daemon now.
        if has_resolved(&mut stop).await {
            return Ok(());
        }
    }
}

/// Whether `stop` has already resolved, without waiting for it.
async fn has_resolved(stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    tokio::select! {
        biased;
        _ = stop.as_mut() => true,
        _ = std::future::ready(()) => false,
    }
}

/// Syncs every organization (`orgs` empty: the run of `slot`, done
/// nothing if another process completed a run of it first) or only `orgs`
/// (a same-day retry).
async fn run_slot<C: Clock>(
    store: &Store,
    runtime: Arc<Runtime>,
    clock: &C,
    options: &DaemonOptions,
    slot: Option<DateTime<Utc>>,
    orgs: Vec<String>,
) -> SlotResult {
    let sync_options = run_options(options, &runtime, clock, slot, orgs);
    let result = sync_tenant(store, runtime, &options.tenant, &sync_options, &mut ()).await;
    slot_result(store, options, result).await
}

/// The options of a daemon's (or a worker's) run of every organization
/// (`orgs` empty; `slot`: the slot it is the run of, if any) or of a
/// same-day retry of `orgs`.
pub(crate) fn run_options(
    options: &DaemonOptions,
    runtime: &Runtime,
    clock: &impl Clock,
    slot: Option<DateTime<Utc>>,
    orgs: Vec<String>,
) -> SyncOptions {
    let trigger = if orgs.is_empty() {
        Trigger::Daemon
    } else {
        Trigger::Retry
    };
    SyncOptions {
        orgs,
        concurrency: options.concurrency,
        retry_pause: options.retry_pause,
        settle_window: options
            .settle_window
            .unwrap_or_else(|| crate::sync::settle_window(runtime.limits())),
        slot,
        // The tenant's approval rules decide what the daily run writes.
        ..SyncOptions::new(trigger, clock.now().date_naive())
    }
}

/// What a run's result means for the schedule; a run that was recorded is
/// notified first.
pub(crate) async fn slot_result(
    store: &Store,
    options: &DaemonOptions,
    result: Result<SyncSummary, SyncError>,
) -> SlotResult {
    match result {
        Ok(summary) => {
            // After the run is recorded; a failing notifier is logged and
            // recorded, never the slot's failure.
            if let Some(notice) = crate::notify::notice_for_run(&summary) {
                crate::notify::deliver(store, &notice, &options.notify).await;
            }
            SlotResult::Synced(Box::new(summary))
        }
        Err(SyncError::Store(StoreError::LockBusy(holder))) => SlotResult::Busy(holder.to_string()),
        Err(SyncError::AlreadySynced { .. }) => SlotResult::AlreadySynced,
        Err(e) => SlotResult::Failed(e.to_string()),
    }
}

/// One line for a tenant's slot (or same-day retry) on a server's or a
/// worker's output.
pub fn slot_line(tenant: &str, slot: DateTime<Utc>, result: &SlotResult) -> String {
    let slot = slot.format("%Y-%m-%d %H:%M UTC");
    let (what, result) = match result {
        SlotResult::Retried { attempt, result } => (format!("{slot}, retry {attempt}"), &**result),
        other => (slot.to_string(), other),
    };
    match result {
        SlotResult::Synced(summary) => match &summary.run {
            Some(run) => format!(
                "[{tenant}] {what}: run #{} {} ({} organizations, {} updated, {} created).",
                run.id,
                run.status.as_str(),
                run.totals.orgs,
                run.totals.updated,
                run.totals.created
            ),
            None => format!("[{tenant}] {what}: nothing to sync."),
        },
        SlotResult::Busy(holder) => {
            format!("[{tenant}] {what}: skipped, another process is syncing ({holder}).")
        }
        SlotResult::Failed(why) => format!("[{tenant}] {what}: the sync could not run: {why}"),
        SlotResult::AlreadySynced => {
            format!("[{tenant}] {what}: skipped, another process synced this slot already.")
        }
        SlotResult::Retried { .. } => format!("[{tenant}] {what}: retried."),
    }
}
