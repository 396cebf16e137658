//! The daily schedule inside `seatsync serve`: one [`crate::daemon`] per
//! connected tenant, started when the tenant gets its connection (from the
//! console, or from the CLI on the same database), all stopped together.
//!
//! A daemon holds its store across calls to the connector, so it is not
//! `Send`: each runs on a thread of its own, driving its future on the
//! server's tokio runtime (`Handle::block_on`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::clock::SystemClock;
use crate::daemon::{self, DaemonOptions};
use crate::runtime::Runtime;
use crate::store::{KeySource, Store};

/// How often the schedule looks for tenants connected from elsewhere (the
/// CLI); the console wakes it at once.
pub const RESCAN_EVERY: Duration = Duration::from_secs(30);

/// Wakes the schedule to look for newly connected tenants.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Asks for a look now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// What the schedule needs.
pub struct Schedule {
    /// The database.
    pub db: PathBuf,
    /// Where the key sealing the database's secrets comes from.
    pub keys: KeySource,
    /// The clock.
    pub clock: SystemClock,
    /// The connector.
    pub runtime: Arc<Runtime>,
    /// Every tenant's daemon options (the tenant is filled in).
    pub template: DaemonOptions,
}

/// Runs the schedule until `stop` turns true: starts a daemon for each
/// connected tenant, then waits for all of them to finish the run they are
/// in (a run is never cut short by a shutdown).
pub async fn run(schedule: Schedule, wake: Wake, mut stop: watch::Receiver<bool>) {
    let mut running: BTreeMap<String, std::thread::JoinHandle<()>> = BTreeMap::new();
    loop {
        match connected_tenants(&schedule).await {
            Ok(tenants) => {
                for tenant in tenants {
                    if running.contains_key(&tenant) {
                        continue;
                    }
                    match start(&schedule, &tenant, stop.clone()) {
                        Ok(handle) => {
                            running.insert(tenant, handle);
                        }
                        Err(e) => {
                            tracing::error!(%tenant, error = %e, "cannot start the tenant's daemon")
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot list the connected tenants"),
        }
        tokio::select! {
            _ = wake.0.notified() => {}
            _ = tokio::time::sleep(RESCAN_EVERY) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    let handles: Vec<_> = running.into_values().collect();
    let _ = tokio::task::spawn_blocking(move || {
        for handle in handles {
            let _ = handle.join();
        }
    })
    .await;
}

async fn connected_tenants(schedule: &Schedule) -> Result<Vec<String>, crate::store::StoreError> {
    let (db, keys) = (schedule.db.clone(), schedule.keys.clone());
    tokio::task::spawn_blocking(move || {
        let store = Store::open_with_key(&db, keys)?;
        // One read of the connected tenants (no connection unsealed).
        Ok(store
            .tenant_schedules()?
            .into_iter()
            .map(|s| s.tenant)
            .collect())
    })
    .await
    .unwrap_or_else(|e| Err(crate::store::StoreError::InvalidInput(e.to_string())))
}

fn start(
    schedule: &Schedule,
    tenant: &str,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let handle = tokio::runtime::Handle::current();
    let (db, keys, clock, runtime) = (
        schedule.db.clone(),
        schedule.keys.clone(),
        schedule.clock,
        schedule.runtime.clone(),
    );
    let mut options = DaemonOptions {
        tenant: tenant.to_owned(),
        ..schedule.template.clone()
    };
    std::thread::Builder::new()
        .name(format!("daemon {tenant}"))
        .spawn(move || {
            handle.block_on(async move {
                let mut store = match Store::open_with_key(&db, keys) {
                    Ok(store) => store,
                    Err(e) => {
                        tracing::error!(tenant = %options.tenant, error = %e, "the daemon cannot open the database");
                        return;
                    }
                };
                store.set_clock(clock.as_fn());
                // The tenant's own time (`seatsync schedule set`), else
                // the server's.
                match store.sync_at(&options.tenant) {
                    Ok(Some(at)) => options.at = at,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(tenant = %options.tenant, error = %e, "cannot read the tenant's sync time; using the server's"),
                }
                println!(
                    "Scheduled tenant '{}': syncing daily at {} UTC.",
                    options.tenant,
                    options.at.format("%H:%M")
                );
                let mut stop = stop;
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                let tenant = options.tenant.clone();
                let result = daemon::run(&store, runtime, &clock, &options, stopped, |slot, r| {
                    println!("{}", daemon::slot_line(&tenant, slot, r));
                })
                .await;
                if let Err(e) = result {
                    tracing::error!(tenant = %options.tenant, error = %e, "the daemon stopped");
                }
            })
        })
}
