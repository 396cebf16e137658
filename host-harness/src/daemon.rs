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
use crate::sync::{SyncError, SyncOptions, SyncSummary, sync_tenant};

/// How long the daemon waits before trying a slot again when another
/// process held the sync lock.
pub const BUSY_RETRY: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What the daemon did in one slot.
#[derive(Debug)]
pub enum SlotResult {
    /// The sync ran (it may have failed for some organizations).
    Synced(SyncSummary),
    /// Another process holds the sync lock; the slot is tried again
    /// [`BUSY_RETRY`] later (until the next slot).
    Busy(String),
    /// The sync could not run (no connection, database error); the daemon
    /// goes on to the next slot.
    Failed(String),
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
    /// Stop after this many slots (tests); `None` runs until `stop`.
    pub max_slots: Option<u32>,
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
    loop {
        let (slot, run_at) = match due.take() {
            Some(due) => due,
            None => {
                // Never before the slot just run: a wall clock stepped back
                // during the sleep must not run the same slot twice.
                let now = clock.now();
                let after = last_slot.map_or(now, |last| last.max(now));
                let next = schedule::next_fire(after, options.at);
                tracing::info!(%next, "next sync");
                (next, next)
            }
        };
        if run_at > clock.now() {
            tokio::select! {
                _ = clock.sleep_until(run_at) => {}
                _ = &mut stop => return Ok(()),
            }
        }
        let result = run_slot(store, runtime.clone(), clock, options).await;
        on_slot(slot, &result);
        last_slot = Some(slot);
        slots += 1;
        if options.max_slots.is_some_and(|max| slots >= max) {
            return Ok(());
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

async fn run_slot<C: Clock>(
    store: &Store,
    runtime: Arc<Runtime>,
    clock: &C,
    options: &DaemonOptions,
) -> SlotResult {
    let sync_options = SyncOptions {
        dry_run: false,
        orgs: Vec::new(),
        concurrency: options.concurrency,
        trigger: Trigger::Daemon,
        effective_date: clock.now().date_naive(),
    };
    match sync_tenant(store, runtime, &options.tenant, &sync_options, &mut ()).await {
        Ok(summary) => SlotResult::Synced(summary),
        Err(SyncError::Store(StoreError::LockBusy(holder))) => SlotResult::Busy(holder.to_string()),
        Err(e) => SlotResult::Failed(e.to_string()),
    }
}
