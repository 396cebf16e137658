//! `seatsync run --all` (a worker), `seatsync schedule` and `seatsync
//! workers`.

use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::watch;

use super::Context;
use super::args::ScheduleCommand;
use super::daemon::{daemon_options, shutdown_signal};
use super::table::{self, or_dash};
use crate::clock::Clock as _;
use crate::schedule::{self, DEFAULT_AT, parse_at};
use crate::store::WorkerState;
use crate::worker::{self, DEFAULT_POLL, WorkerOptions, WorkerSetup};

/// Runs a worker with `jobs` jobs until SIGINT or SIGTERM.
pub async fn run(ctx: &mut Context, jobs: usize) -> anyhow::Result<ExitCode> {
    // Fail now, not at the first slot, if the database cannot be used.
    drop(ctx.store()?);
    let runtime = ctx.runtime()?;
    let setup = WorkerSetup {
        db: ctx.db.clone(),
        keys: ctx.keys.clone(),
        clock: ctx.clock,
        runtime: runtime.clone(),
    };
    let options = WorkerOptions {
        jobs,
        poll: poll(),
        default_at: DEFAULT_AT,
        template: daemon_options(&runtime, String::new(), DEFAULT_AT),
    };
    let signal = shutdown_signal()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    println!(
        "seatsync worker: syncing every connected tenant at its time ({jobs} at once), with the other \
         workers on this database. Stop with Ctrl-C or SIGTERM."
    );
    let on_run: worker::OnRun = Arc::new(|tenant, slot, result| {
        println!("{}", crate::daemon::slot_line(tenant, slot, result));
    });
    let worker = tokio::spawn(worker::run(setup, options, stop_rx, on_run));
    signal.await;
    println!("Stopping: finishing any sync in progress…");
    let _ = stop_tx.send(true);
    worker.await??;
    println!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

/// How often an idle job looks for due tenants: `SEATSYNC_WORKER_POLL`
/// (seconds, or `500ms`), else [`DEFAULT_POLL`].
fn poll() -> std::time::Duration {
    let Ok(text) = std::env::var("SEATSYNC_WORKER_POLL") else {
        return DEFAULT_POLL;
    };
    match super::report::parse_retry_pause(&text) {
        Some(Some(poll)) => poll,
        _ => {
            tracing::warn!(value = %text, "SEATSYNC_WORKER_POLL is not a number of seconds or of milliseconds ('500ms'); using the default");
            DEFAULT_POLL
        }
    }
}

/// `schedule show|set`.
pub fn schedule(ctx: &Context, command: &ScheduleCommand) -> anyhow::Result<()> {
    let store = ctx.store()?;
    match command {
        // Without --at, clap made sure --default was given.
        ScheduleCommand::Set { at, default: _ } => {
            let at = at.as_deref().map(parse_at).transpose()?;
            if store.connection(&ctx.tenant)?.is_none() {
                anyhow::bail!(
                    "tenant '{}' has no connection: run `seatsync connect` first (or give --tenant)",
                    ctx.tenant
                );
            }
            store.set_sync_at(&ctx.tenant, at)?;
            let shown = at.unwrap_or(DEFAULT_AT).format("%H:%M");
            println!(
                "Tenant '{}' syncs daily at {shown} UTC{}. A running `seatsync run --all` picks it up \
                 by itself; restart a `seatsync run` or `seatsync serve` for it to take effect.",
                ctx.tenant,
                if at.is_none() { " (the default)" } else { "" }
            );
        }
        ScheduleCommand::Show(f) => {
            let now = ctx.clock.now();
            let schedules = store.tenant_schedules()?;
            // (time of day, next run): a slot that passed unsynced is due now.
            let times: Vec<(chrono::NaiveTime, DateTime<Utc>)> = schedules
                .iter()
                .map(|s| {
                    let at = s.at.unwrap_or(DEFAULT_AT);
                    let next = s
                        .due_slot(now, at)
                        .unwrap_or_else(|| schedule::next_fire(now, at));
                    (at, next)
                })
                .collect();
            if f.json {
                let value: Vec<_> = schedules
                    .iter()
                    .zip(&times)
                    .map(|(s, (at, next))| {
                        json!({
                            "tenant": s.tenant,
                            "at": at.format("%H:%M").to_string(),
                            "default": s.at.is_none(),
                            "next": next.to_rfc3339(),
                            "last_run": s.last_run.map(|l| l.to_rfc3339()),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(());
            }
            let mut t = table::new(&["tenant", "at (UTC)", "next", "last run started"]);
            for (s, (at, next)) in schedules.iter().zip(&times) {
                let at = at.format("%H:%M");
                t.add_row(vec![
                    s.tenant.clone(),
                    if s.at.is_none() {
                        format!("{at} (default)")
                    } else {
                        at.to_string()
                    },
                    next.format("%Y-%m-%d %H:%M").to_string(),
                    or_dash(
                        s.last_run
                            .map(|l| l.format("%Y-%m-%d %H:%M:%S").to_string()),
                    ),
                ]);
            }
            println!("{t}\n{} connected tenants", schedules.len());
        }
    }
    Ok(())
}

/// `workers`.
pub fn workers(ctx: &Context, json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let workers = store.workers()?;
    if json {
        let value: Vec<_> = workers
            .iter()
            .map(|w| {
                json!({
                    "id": w.id,
                    "state": w.state.as_str(),
                    "hostname": w.hostname,
                    "pid": w.pid,
                    "jobs": w.jobs,
                    "started_at": w.started_at.to_rfc3339(),
                    "heartbeat_at": w.heartbeat_at.to_rfc3339(),
                    "leases": w.leases.iter().map(|l| json!({
                        "name": l.name,
                        "since": l.since.to_rfc3339(),
                        "heartbeat_at": l.heartbeat_at.to_rfc3339(),
                    })).collect::<Vec<_>>(),
                    "running": w.running.iter().map(|r| json!({
                        "tenant": r.tenant,
                        "run": r.run,
                        "started_at": r.started_at.to_rfc3339(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut t = table::new(&[
        "worker",
        "state",
        "host",
        "pid",
        "jobs",
        "last heartbeat",
        "running",
        "leases",
    ]);
    for w in &workers {
        t.add_row(vec![
            w.id.chars().take(8).collect(),
            w.state.as_str().to_owned(),
            w.hostname.clone(),
            w.pid.to_string(),
            w.jobs.to_string(),
            w.heartbeat_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            or_dash((!w.running.is_empty()).then(|| {
                w.running
                    .iter()
                    .map(|r| format!("{} (run #{})", r.tenant, r.run))
                    .collect::<Vec<_>>()
                    .join(", ")
            })),
            or_dash((!w.leases.is_empty()).then(|| {
                w.leases
                    .iter()
                    .map(|l| l.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            })),
        ]);
    }
    let live = workers
        .iter()
        .filter(|w| w.state == WorkerState::Live)
        .count();
    println!("{t}\n{live} live workers");
    Ok(())
}
