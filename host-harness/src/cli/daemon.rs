//! `seatsync run`: the daemon, with SIGINT/SIGTERM handling and log output.

use std::process::ExitCode;

use anyhow::Context as _;

use super::Context;
use super::report::{concurrency, print_summary, retry_pause, settle_window_setting};
use crate::daemon::{self, DaemonOptions, SlotResult};
use crate::schedule::{DEFAULT_AT, parse_at};

/// Runs until SIGINT or SIGTERM, at `at` or the tenant's own time.
pub async fn run(ctx: &mut Context, at: Option<&str>) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let at = match at {
        Some(at) => parse_at(at)?,
        None => store.sync_at(&ctx.tenant)?.unwrap_or(DEFAULT_AT),
    };
    // Fail now, not at 06:00, if there is nothing to connect with; tell
    // people if the connection does not work (the daemon still runs: the
    // PSA may be back by the slot).
    let connected = ctx.connected(&store).await?;
    if let Err(error) = connected.test().await.map_err(|e| e.to_string()) {
        eprintln!("warning: {error}; the daemon runs all the same and tries at each slot");
        super::notify::send(
            &store,
            Some(crate::notify::notice_for_connection(
                &ctx.tenant,
                "when the daemon started",
                &error,
            )),
        )
        .await;
    }
    let runtime = ctx.runtime()?;
    let options = daemon_options(&runtime, ctx.tenant.clone(), at);
    // Listen for signals before saying we run: a signal sent as soon as
    // the first line appears must stop us cleanly, not kill us.
    let stop = shutdown_signal()?;
    println!(
        "seatsync daemon for tenant '{}': syncing daily at {} UTC. Stop with Ctrl-C or SIGTERM.",
        options.tenant,
        at.format("%H:%M")
    );
    daemon::run(
        &store,
        runtime,
        &ctx.clock,
        &options,
        stop,
        |slot, result| {
            println!("\n== {} UTC", slot.format("%Y-%m-%d %H:%M"));
            print_slot(result);
        },
    )
    .await?;
    println!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

/// What a slot (or one of its same-day retries) did, for people.
fn print_slot(result: &SlotResult) {
    match result {
        SlotResult::Synced(summary) => print_summary(summary),
        SlotResult::Busy(holder) => {
            println!("Skipped: another process is syncing ({holder}).")
        }
        SlotResult::Failed(error) => eprintln!("The sync could not run: {error}"),
        SlotResult::AlreadySynced => {
            println!("Skipped: another process synced this slot already.")
        }
        SlotResult::Retried { attempt, result } => {
            println!(
                "Retry {attempt} of {}: the organizations that failed for a transient reason, again.",
                daemon::MAX_RETRIES
            );
            print_slot(result);
        }
    }
}

/// The daemon of `tenant` at `at`, with the concurrency, pauses, settle
/// window and notification retries the environment sets (`run` and
/// `serve` alike).
pub(super) fn daemon_options(
    runtime: &crate::runtime::Runtime,
    tenant: String,
    at: chrono::NaiveTime,
) -> DaemonOptions {
    DaemonOptions {
        concurrency: concurrency(),
        retry_pause: retry_pause(),
        settle_window: Some(settle_window_setting(runtime.limits())),
        notify: super::notify::delivery_options(),
        ..DaemonOptions::new(tenant, at)
    }
}

/// Resolves on the first SIGINT or SIGTERM.
pub(super) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
