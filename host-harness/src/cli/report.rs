//! `sync` and `history`: running a sync and showing what runs did.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use seatsync_contract::{ConnectorDescription, LineOutcome, SyncReport};
use serde_json::{Value, json};

use super::args::SyncArgs;
use super::table::{self, or_dash};
use super::{Context, stderr_is_terminal};
use crate::clock::Clock as _;
use crate::resolve::{self, SeatsyncDuplicate};
use crate::runtime::Runtime;
use crate::store::{
    JournalEntry, LineKind, RunId, RunLine, RunRecord, RunScope, RunStatus, StoreError, Trigger,
    Withheld,
};
use crate::sync::{
    DEFAULT_RETRY_PAUSE, OrgOutcome, Progress, SyncError, SyncOptions, SyncSummary, sync_tenant,
};

/// Organizations synced at once unless `SEATSYNC_CONCURRENCY` says otherwise:
/// enough to overlap ConnectWise's latency, few enough to stay well under its
/// throttle.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The exit status of `seatsync sync` when some lines need a person but
/// nothing failed (the run's status is `attention`).
pub const EXIT_ATTENTION: u8 = 2;

/// `sync`: exit status 0 when everything was done, [`EXIT_ATTENTION`] (2)
/// when lines need a person, 1 when an organization or a line failed (or
/// the sync could not run).
pub async fn sync(ctx: &mut Context, args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let summary = run_sync(ctx, args, Trigger::Manual).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary_json(&summary))?);
    } else {
        print_summary(&summary);
    }
    // After the run is recorded and shown; never its outcome.
    if !args.dry_run {
        super::notify::send(&ctx.store()?, crate::notify::notice_for_run(&summary)).await;
    }
    Ok(exit_code(summary.status()))
}

/// The exit status for a run's status.
pub(super) fn exit_code(status: RunStatus) -> ExitCode {
    match status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        RunStatus::Attention => ExitCode::from(EXIT_ATTENTION),
        RunStatus::Running | RunStatus::Failed | RunStatus::Interrupted => ExitCode::FAILURE,
    }
}

/// Runs a sync with a progress bar on a terminal.
pub async fn run_sync(
    ctx: &mut Context,
    args: &SyncArgs,
    trigger: Trigger,
) -> anyhow::Result<SyncSummary> {
    let store = ctx.store()?;
    let runtime = ctx.runtime()?;
    let options = SyncOptions {
        dry_run: args.dry_run,
        orgs: args.orgs.clone(),
        ..sync_options(ctx, &runtime, trigger)
    };
    let mut progress = Bar::new(!args.json);
    let summary = sync_tenant(&store, runtime, &ctx.tenant, &options, &mut progress).await;
    progress.finish();
    match summary {
        Ok(summary) => Ok(summary),
        Err(SyncError::Store(StoreError::LockBusy(holder))) => {
            Err(busy(&ctx.tenant, &holder, "this sync did nothing"))
        }
        Err(e) => Err(e.into()),
    }
}

/// What to say when a sync's lock is taken: the tenant's (another process
/// syncs it) or its PSA site's (another process syncs a tenant on the same
/// site, which sees one seatsync at a time).
fn busy(tenant: &str, holder: &crate::store::LockInfo, outcome: &str) -> anyhow::Error {
    match crate::store::site_of_lock(&holder.name) {
        Some(site) => anyhow::anyhow!(
            "another seatsync process is syncing a tenant on the same PSA site ({site}), which is synced \
             by one process at a time, so {outcome}: {holder}"
        ),
        None => anyhow::anyhow!(
            "another seatsync process is already syncing tenant '{tenant}', so {outcome}: {holder}"
        ),
    }
}

/// The options of a run this command starts for `trigger`: the
/// concurrency, pauses and windows the environment sets, the context's
/// clock, the tenant's approval rules, and the user running it.
pub(super) fn sync_options(ctx: &Context, runtime: &Runtime, trigger: Trigger) -> SyncOptions {
    SyncOptions {
        concurrency: concurrency(),
        retry_pause: retry_pause(),
        settle_window: settle_window_setting(runtime.limits()),
        actor: super::actor(),
        ..SyncOptions::new(trigger, ctx.clock.now().date_naive())
    }
}

/// Turns a plan command's error into what to tell the user; a busy lock
/// names the other process.
pub(super) fn lock_busy_message(
    tenant: &str,
) -> impl Fn(crate::plans::PlanError) -> anyhow::Error + '_ {
    use crate::plans::PlanError;
    move |error| match error {
        PlanError::Sync(SyncError::Store(StoreError::LockBusy(holder)))
        | PlanError::Store(StoreError::LockBusy(holder)) => {
            busy(tenant, &holder, "nothing was done")
        }
        other => other.into(),
    }
}

/// A progress bar on a terminal, sized once the run knows how many
/// organizations it syncs.
pub(super) struct Bar {
    shown: bool,
    bar: Option<ProgressBar>,
}

impl Bar {
    /// A bar shown only when stderr is a terminal and `wanted`.
    pub(super) fn new(wanted: bool) -> Bar {
        Bar {
            shown: wanted && stderr_is_terminal(),
            bar: None,
        }
    }

    /// Clears the bar, if shown.
    pub(super) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn planned(&mut self, orgs: usize) {
        if !self.shown {
            return;
        }
        let bar = ProgressBar::new(orgs as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} organizations {msg}")
        {
            bar.set_style(style);
        }
        self.bar = Some(bar);
    }

    fn finished(&mut self, outcome: &OrgOutcome) {
        if let Some(bar) = &self.bar {
            bar.set_message(outcome.plan.org_id.clone());
            bar.inc(1);
        }
    }

    fn retrying(&mut self, orgs: usize, pause: Duration) {
        let message = format!(
            "{orgs} organization(s) failed for a transient reason (no answer, a server error or throttling); \
             trying them again in {} s. Stopping now is safe: the next sync picks them up.",
            pause.as_secs_f64().round()
        );
        match &self.bar {
            Some(bar) => {
                bar.set_length(bar.length().unwrap_or(0) + orgs as u64);
                bar.println(message);
            }
            None => eprintln!("{message}"),
        }
    }
}

pub(super) fn concurrency() -> usize {
    std::env::var("SEATSYNC_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_CONCURRENCY)
}

/// The pause before organizations that failed for a transient reason are
/// tried again, from `SEATSYNC_RETRY_PAUSE` (seconds, or `500ms`; `off` or
/// `0` does not try them again); one minute otherwise.
pub fn retry_pause() -> Option<Duration> {
    let Ok(text) = std::env::var("SEATSYNC_RETRY_PAUSE") else {
        return Some(DEFAULT_RETRY_PAUSE);
    };
    parse_retry_pause(&text).unwrap_or_else(|| {
        tracing::warn!(value = %text, "SEATSYNC_RETRY_PAUSE is not a number of seconds, a number of milliseconds ('500ms') or 'off'; using the default");
        Some(DEFAULT_RETRY_PAUSE)
    })
}

/// How long a write left without an answer may still be applied, from
/// `SEATSYNC_SETTLE_WINDOW` (seconds, or `500ms`); otherwise the runtime's
/// request timeouts plus a minute ([`crate::sync::settle_window`]).
pub fn settle_window_setting(limits: &crate::runtime::Limits) -> Duration {
    let default = crate::sync::settle_window(limits);
    let Ok(text) = std::env::var("SEATSYNC_SETTLE_WINDOW") else {
        return default;
    };
    match parse_retry_pause(&text) {
        Some(Some(window)) => window,
        _ => {
            tracing::warn!(value = %text, "SEATSYNC_SETTLE_WINDOW is not a number of seconds or milliseconds ('500ms'); using the default");
            default
        }
    }
}

/// Reads a pause setting: seconds (`60`, `60s`), milliseconds (`500ms`), or
/// `off` / `0` for none. `None` when the text is none of those.
pub(super) fn parse_retry_pause(text: &str) -> Option<Option<Duration>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    let pause = if let Some(ms) = text.strip_suffix("ms") {
        Duration::from_millis(ms.trim().parse().ok()?)
    } else {
        Duration::from_secs(text.strip_suffix('s').unwrap_or(text).trim().parse().ok()?)
    };
    Some((!pause.is_zero()).then_some(pause))
}

/// Requests a minute to the ConnectWise site, from `SEATSYNC_REQUESTS_PER_MINUTE`
/// (a number, or `unlimited`); the runtime's default (900) otherwise.
pub fn requests_per_minute() -> Option<std::num::NonZeroU32> {
    let default = crate::runtime::Limits::default().requests_per_minute;
    let Ok(text) = std::env::var("SEATSYNC_REQUESTS_PER_MINUTE") else {
        return default;
    };
    crate::runtime::parse_requests_per_minute(&text).unwrap_or_else(|| {
        tracing::warn!(value = %text, "SEATSYNC_REQUESTS_PER_MINUTE is not a number or 'unlimited'; using the default");
        default
    })
}

/// The outcome of a line as a short word and detail.
fn describe(
    outcome: &LineOutcome,
    dry_run: bool,
    connector: &ConnectorDescription,
) -> (String, String) {
    let would = |s: &str| {
        if dry_run {
            format!("would be {s}")
        } else {
            s.to_string()
        }
    };
    match outcome {
        LineOutcome::Created => (would("created"), String::new()),
        LineOutcome::Updated { previous_quantity } => {
            (would("updated"), format!("was {previous_quantity}"))
        }
        LineOutcome::Unchanged => ("unchanged".into(), String::new()),
        LineOutcome::Conflict(ids) if ids.is_empty() => (
            "CONFLICT".into(),
            "several packages map to this product".into(),
        ),
        LineOutcome::Conflict(ids) => (
            "CONFLICT".into(),
            format!(
                "active {}s {}: keep one in {}",
                connector.line_noun,
                ids.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                connector.psa
            ),
        ),
        LineOutcome::Skipped(reason) => ("skipped".into(), reason.clone()),
        LineOutcome::Failed(error) => ("FAILED".into(), error.to_string()),
    }
}

/// Prints the run as a table for people.
pub fn print_summary(summary: &SyncSummary) {
    let Some(run) = &summary.run else {
        println!(
            "Nothing to sync: no enabled organization is mapped with an enabled, mapped package. \
             Map them with `seatsync map package` and `seatsync map org`."
        );
        return;
    };
    let mut orgs: Vec<&OrgOutcome> = summary.orgs.iter().collect();
    orgs.sort_by(|a, b| a.plan.org_id.cmp(&b.plan.org_id));
    let mut t = table::new(&[
        "org",
        "agreement",
        "package",
        "users",
        "result",
        "addition",
        "detail",
    ]);
    for o in &orgs {
        let agreement = o.plan.agreement_id.to_string();
        if let Some(waiting) = &o.waiting {
            for line in &o.plan.lines {
                t.add_row(vec![
                    o.plan.org_id.clone(),
                    agreement.clone(),
                    line.package_key.clone(),
                    line.quantity.to_string(),
                    "WAITING".into(),
                    "-".into(),
                    waiting.clone(),
                ]);
            }
            continue;
        }
        for w in &o.withheld {
            t.add_row(vec![
                o.plan.org_id.clone(),
                agreement.clone(),
                w.line.package_key.clone(),
                w.line.new_quantity.to_string(),
                match w.kind {
                    Withheld::Held => "HELD".into(),
                    Withheld::Changed => "CHANGED".into(),
                },
                or_dash(w.line.line_id),
                match w.line.current_quantity {
                    Some(now) => format!("was {}; {}", crate::plans::quantity_text(now), w.message),
                    None => w.message.clone(),
                },
            ]);
        }
        match &o.result {
            Ok(report) => {
                for (index, line) in report.lines.iter().enumerate() {
                    let (result, mut detail) =
                        describe(&line.outcome, report.dry_run, &summary.connector);
                    if let Some(duplicate) = o.duplicates.iter().find(|d| d.line == index) {
                        detail = duplicate.message.clone();
                    }
                    t.add_row(vec![
                        o.plan.org_id.clone(),
                        agreement.clone(),
                        line.package_key.clone(),
                        line.quantity.to_string(),
                        result,
                        or_dash(line.line_id),
                        detail,
                    ]);
                }
            }
            Err(error) => {
                t.add_row(vec![
                    o.plan.org_id.clone(),
                    agreement,
                    "-".into(),
                    "-".into(),
                    "FAILED".into(),
                    "-".into(),
                    error.clone(),
                ]);
            }
        }
    }
    table::align_right(&mut t, &[1, 3, 5]);
    println!("{t}");
    let check = match summary.check_requests {
        0 => String::new(),
        n => format!(" (and {n} to check the mapped agreements)"),
    };
    println!("{}{check}.", totals_line(run));
    if run.totals.conflicts > 0 {
        println!(
            "{} line(s) need a person: resolve them in {} (see the detail above).",
            run.totals.conflicts, summary.connector.psa
        );
        let duplicates: usize = summary.orgs.iter().map(|o| o.duplicates.len()).sum();
        if duplicates > 0 {
            println!(
                "{duplicates} of them are duplicates seatsync created: `seatsync resolve` lists them, and ends the \
                 newer {} of one once you confirm. seatsync never ends a line by itself.",
                summary.connector.line_noun
            );
        }
    }
    if run.totals.waiting > 0 {
        println!(
            "{} line(s) wait for an earlier write that got no answer to settle; a later run finishes them.",
            run.totals.waiting
        );
    }
    if run.totals.created > 0 {
        println!(
            "Created lines {} billing on {}.",
            if run.dry_run { "would start" } else { "start" },
            summary.start_date
        );
    }
    if let (Some(plan), true) = (summary.held_in, run.totals.held > 0) {
        println!(
            "{} line(s) held for review by the approval rules in plan {plan}: nothing was written for them. \
             See them with `seatsync plan {plan}`, then `seatsync approve {plan} ...` and `seatsync apply {plan}`.",
            run.totals.held
        );
    }
}

fn totals_line(run: &RunRecord) -> String {
    let t = &run.totals;
    let retried = match run.retried {
        0 => String::new(),
        n => format!(" ({n} tried again after a transient failure)"),
    };
    let mut waiting = match t.waiting {
        0 => String::new(),
        n => format!(", {n} waiting"),
    };
    if t.held > 0 {
        waiting.push_str(&format!(", {} held for review", t.held));
    }
    if t.changed > 0 {
        waiting.push_str(&format!(", {} changed since review", t.changed));
    }
    format!(
        "{} {} ({}): {} organizations{retried} ({} failed); {} created, {} updated, {} unchanged, {} conflicts, \
         {} skipped, {} failed{waiting}; {} requests, {} writes",
        if run.dry_run { "Dry run" } else { "Run" },
        run.id,
        run.status,
        t.orgs,
        t.orgs_failed,
        t.created,
        t.updated,
        t.unchanged,
        t.conflicts,
        t.skipped,
        t.failed,
        t.requests,
        t.writes
    )
}

/// The `--json` form of a run.
pub fn summary_json(summary: &SyncSummary) -> Value {
    let mut orgs: Vec<&OrgOutcome> = summary.orgs.iter().collect();
    orgs.sort_by(|a, b| a.plan.org_id.cmp(&b.plan.org_id));
    json!({
        "run": summary.run.as_ref().map(run_json),
        "status": summary.status().as_str(),
        "succeeded": summary.succeeded(),
        "organizations": orgs.iter().map(|o| json!({
            "org_id": o.plan.org_id,
            "company_id": o.plan.company_id,
            "agreement_id": o.plan.agreement_id,
            "requests": o.requests,
            "writes": o.writes,
            "report": o.result.as_ref().ok().map(|r| report_json(r, o, &summary.tenant)),
            "error": if o.waiting.is_some() { None } else { o.result.as_ref().err() },
            "waiting": o.waiting,
            "withheld": o.withheld.iter().map(|w| json!({
                "package_key": w.line.package_key,
                "product_id": w.line.product_id,
                "quantity": w.line.new_quantity,
                "current_quantity": w.line.current_quantity,
                "action": w.line.action.as_str(),
                "addition_id": w.line.line_id,
                "kind": match w.kind { Withheld::Held => "held", Withheld::Changed => "changed" },
                "message": w.message,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "held_in_plan": summary.held_in.map(|p| p.0),
        "new_lines_start": summary.start_date.to_string(),
    })
}

/// A connector's report as `sync --json` has always shown it (0.1's field
/// names: `agreement_id`, `addition_id`; a previous quantity as a number),
/// and, added, each line's `duplicate`: the duplicate seatsync created
/// that a conflict is, or null.
fn report_json(report: &SyncReport, outcome: &OrgOutcome, tenant: &str) -> Value {
    json!({
        "company_id": report.company_id,
        "agreement_id": report.contract_id,
        "dry_run": report.dry_run,
        "lines": report.lines.iter().enumerate().map(|(index, l)| {
            let duplicate = outcome.duplicates.iter().find(|d| d.line == index);
            json!({
                "package_key": l.package_key,
                "product_id": l.product_id,
                "quantity": l.quantity,
                "outcome": outcome_json(&l.outcome),
                "addition_id": l.line_id,
                "duplicate": duplicate.map(|d| duplicate_json(&d.duplicate, &d.message, tenant)),
            })
        }).collect::<Vec<_>>(),
        "requests": report.requests,
        "writes": report.writes,
    })
}

/// A line's outcome: `"Created"`, `{"Updated": {"previous_quantity": 5.0}}`,
/// `"Unchanged"`, `{"Conflict": [86, 87]}`, `{"Skipped": "…"}`,
/// `{"Failed": {…}}`.
fn outcome_json(outcome: &LineOutcome) -> Value {
    match outcome {
        LineOutcome::Created => json!("Created"),
        LineOutcome::Updated { previous_quantity } => json!({
            "Updated": { "previous_quantity": previous_quantity.to_f64() }
        }),
        LineOutcome::Unchanged => json!("Unchanged"),
        LineOutcome::Conflict(ids) => json!({ "Conflict": ids }),
        LineOutcome::Skipped(reason) => json!({ "Skipped": reason }),
        LineOutcome::Failed(error) => json!({ "Failed": error }),
    }
}

fn run_json(run: &RunRecord) -> Value {
    let t = &run.totals;
    json!({
        "id": run.id.0,
        "started_at": run.started_at.to_rfc3339(),
        "finished_at": run.finished_at.map(|f| f.to_rfc3339()),
        "status": run.status.as_str(),
        "dry_run": run.dry_run,
        "trigger": run.trigger.as_str(),
        "partial": run.scope == RunScope::Some,
        "retried": run.retried,
        "message": run.message,
        "totals": {
            "orgs": t.orgs, "orgs_failed": t.orgs_failed, "created": t.created, "updated": t.updated,
            "unchanged": t.unchanged, "conflicts": t.conflicts, "skipped": t.skipped, "failed": t.failed,
            "waiting": t.waiting, "held": t.held, "changed": t.changed,
            "requests": t.requests, "writes": t.writes,
        },
    })
}

fn write_json(write: &JournalEntry) -> Value {
    json!({
        "id": write.id,
        "org_id": write.org_id,
        "method": write.method,
        "url": write.url,
        "body_sha256": write.body_sha256,
        "recorded_at": write.recorded_at.to_rfc3339(),
        "settle_until": write.settle_until.to_rfc3339(),
        "state": write.state.as_str(),
        "status": write.status,
        "error": write.error,
        "created_id": write.created_id,
        "resolved_at": write.resolved_at.map(|t| t.to_rfc3339()),
    })
}

/// A duplicate seatsync created, with what to tell a person.
fn duplicate_json(duplicate: &SeatsyncDuplicate, message: &str, tenant: &str) -> Value {
    let mut value = duplicate.to_json(tenant);
    value["message"] = json!(message);
    value
}

/// A recorded line; `duplicate` (added) is the duplicate seatsync created
/// that a conflict is, or null.
fn line_json(line: &RunLine, duplicate: Option<&SeatsyncDuplicate>, tenant: &str) -> Value {
    json!({
        "org_id": line.org_id,
        "company_id": line.company_id,
        "agreement_id": line.agreement_id,
        "package": line.package_key,
        "product_id": line.product_id,
        "quantity": line.quantity,
        "result": line.kind.as_str(),
        "previous_quantity": line.previous_quantity,
        "addition_id": line.addition_id,
        "conflict_ids": line.conflict_ids,
        "message": line.message,
        "attempt": line.attempt,
        "duplicate": duplicate.map(|d| duplicate_json(d, line.message.as_deref().unwrap_or_default(), tenant)),
    })
}

/// `history [--run ID]`.
pub fn history(ctx: &Context, run: Option<i64>, as_json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    match run {
        None => {
            let runs = store.list_runs(&ctx.tenant, 50)?;
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&runs.iter().map(run_json).collect::<Vec<_>>())?
                );
                return Ok(());
            }
            let mut t = table::new(&[
                "run",
                "started (UTC)",
                "trigger",
                "mode",
                "status",
                "orgs",
                "failed",
                "created",
                "updated",
                "unchanged",
                "conflicts",
                "requests",
                "writes",
            ]);
            for r in &runs {
                let x = &r.totals;
                t.add_row(vec![
                    r.id.to_string(),
                    r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    r.trigger.as_str().to_string(),
                    match (r.dry_run, r.scope) {
                        (false, RunScope::Every) => "sync",
                        (false, RunScope::Some) => "sync (--org)",
                        (true, RunScope::Every) => "dry run",
                        (true, RunScope::Some) => "dry run (--org)",
                    }
                    .to_string(),
                    r.status.as_str().to_string(),
                    x.orgs.to_string(),
                    x.orgs_failed.to_string(),
                    x.created.to_string(),
                    x.updated.to_string(),
                    x.unchanged.to_string(),
                    x.conflicts.to_string(),
                    x.requests.to_string(),
                    x.writes.to_string(),
                ]);
            }
            table::align_right(&mut t, &[0, 5, 6, 7, 8, 9, 10, 11, 12]);
            println!("{t}");
            if runs.is_empty() {
                println!("No runs yet for tenant '{}'.", ctx.tenant);
            }
            // Review before billing: who decided what, when.
            let events = store.plan_events(&ctx.tenant, 20)?;
            if !events.is_empty() {
                println!("\nPlans and decisions (newest first; `seatsync plan ID` shows one):");
                let mut t = table::new(&["when (UTC)", "plan", "who", "what", "lines"]);
                for e in &events {
                    t.add_row(vec![
                        e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        e.plan.to_string(),
                        e.actor.clone(),
                        e.kind.to_string(),
                        e.detail.clone(),
                    ]);
                }
                table::align_right(&mut t, &[1]);
                println!("{t}");
            }
            // Notifications, and above all those that could not be sent.
            let deliveries = store.deliveries(&ctx.tenant, 10)?;
            if !deliveries.is_empty() {
                println!("\nNotifications (newest first):");
                let mut t = table::new(&[
                    "when (UTC)",
                    "to",
                    "events",
                    "run",
                    "result",
                    "attempts",
                    "error",
                ]);
                for d in &deliveries {
                    t.add_row(vec![
                        d.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        d.target.clone(),
                        d.events.join(", "),
                        or_dash(d.run),
                        match d.state {
                            crate::store::DeliveryState::Sent => "sent".into(),
                            crate::store::DeliveryState::Failed => "FAILED".into(),
                        },
                        d.attempts.to_string(),
                        d.error.clone().unwrap_or_default(),
                    ]);
                }
                table::align_right(&mut t, &[3, 5]);
                println!("{t}");
            }
        }
        Some(id) => {
            let record = store.run(RunId(id))?.ok_or_else(|| {
                anyhow::anyhow!("no run {id}: run `seatsync history` to list runs")
            })?;
            if record.tenant != ctx.tenant {
                anyhow::bail!(
                    "run {id} belongs to tenant '{}': add --tenant {}",
                    record.tenant,
                    record.tenant
                );
            }
            let lines = store.run_lines(RunId(id))?;
            let writes = store.run_writes(RunId(id))?;
            if as_json {
                let mut lines_json = Vec::with_capacity(lines.len());
                for line in &lines {
                    let duplicate = match line.kind {
                        LineKind::Conflict => {
                            resolve::seatsync_duplicate(&store, &ctx.tenant, &line.conflict_ids)?
                        }
                        _ => None,
                    };
                    lines_json.push(line_json(line, duplicate.as_ref(), &ctx.tenant));
                }
                let value = json!({
                    "run": run_json(&record),
                    "lines": lines_json,
                    "writes": writes.iter().map(write_json).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
                return Ok(());
            }
            let mut t = table::new(&[
                "org",
                "agreement",
                "package",
                "users",
                "result",
                "was",
                "addition",
                "detail",
            ]);
            for l in &lines {
                let detail = match (&l.message, l.conflict_ids.is_empty()) {
                    (Some(m), _) => m.clone(),
                    (None, false) => format!(
                        "additions {}",
                        l.conflict_ids
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    (None, true) => String::new(),
                };
                t.add_row(vec![
                    l.org_id.clone(),
                    or_dash(l.agreement_id),
                    or_dash(l.package_key.as_ref()),
                    or_dash(l.quantity),
                    l.kind.as_str().to_string(),
                    or_dash(l.previous_quantity),
                    or_dash(l.addition_id),
                    detail,
                ]);
            }
            table::align_right(&mut t, &[1, 3, 5, 6]);
            println!("{t}");
            println!("{} ({}).", totals_line(&record), record.trigger.as_str());
            if !writes.is_empty() {
                println!("\nWrites sent, as the journal recorded them before each went out:");
                let mut t = table::new(&[
                    "org",
                    "recorded (UTC)",
                    "write",
                    "state",
                    "answer",
                    "created",
                ]);
                for w in &writes {
                    t.add_row(vec![
                        w.org_id.clone(),
                        w.recorded_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        format!("{} {}", w.method, w.url),
                        w.state.to_string(),
                        match (&w.status, &w.error) {
                            (Some(status), _) => status.to_string(),
                            (None, Some(error)) => error.clone(),
                            (None, None) => "-".into(),
                        },
                        or_dash(w.created_id),
                    ]);
                }
                println!("{t}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_pauses_parse() {
        assert_eq!(parse_retry_pause("60"), Some(Some(Duration::from_secs(60))));
        assert_eq!(
            parse_retry_pause(" 5s "),
            Some(Some(Duration::from_secs(5)))
        );
        assert_eq!(
            parse_retry_pause("250ms"),
            Some(Some(Duration::from_millis(250)))
        );
        assert_eq!(parse_retry_pause("off"), Some(None));
        assert_eq!(parse_retry_pause("0"), Some(None));
        assert_eq!(parse_retry_pause("soon"), None);
        assert_eq!(parse_retry_pause("-1"), None);
    }

    #[test]
    fn the_bar_is_shown_on_a_terminal_only_and_sized_by_the_plan() {
        let mut hidden = Bar {
            shown: false,
            bar: None,
        };
        hidden.planned(3);
        assert!(hidden.bar.is_none(), "no bar off a terminal or with --json");

        let mut shown = Bar {
            shown: true,
            bar: None,
        };
        shown.planned(3);
        let bar = shown.bar.as_ref().expect("a bar");
        assert_eq!((bar.length(), bar.position()), (Some(3), 0));
    }
}
