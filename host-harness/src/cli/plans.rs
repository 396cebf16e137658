//! `review`, `plans`, `plan`, `approve`, `reject`, `apply` and `policy`:
//! review before billing, as the command line shows it. The rules are in
//! [`crate::plans`]; this module only formats.

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::args::{AutoApproveArg, DecideArgs, EffectiveDateArg, PolicyCommand, PolicySetArgs};
use super::report::{self, Bar};
use super::table::{self, or_dash};
use super::{Context, actor};
use crate::plans::{self, PlanTotals, quantity_text};
use crate::store::{
    ApplyResult, ApprovalRules, AutoApprove, EffectiveDate, LineDecision, PlanAction, PlanEvent,
    PlanId, PlanLine, PlanRecord, PlanStatus, RunStatus, Store, Trigger,
};

/// `review`: a dry run saved as a plan.
pub async fn review(ctx: &mut Context, orgs: &[String], as_json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let runtime = ctx.runtime()?;
    let options = crate::sync::SyncOptions {
        orgs: orgs.to_vec(),
        ..report::sync_options(ctx, &runtime, Trigger::Manual)
    };
    let mut progress = Bar::new(!as_json);
    let review = plans::review(
        &store,
        runtime,
        &ctx.tenant,
        options,
        &actor(),
        &mut progress,
    )
    .await;
    progress.finish();
    let review = review.map_err(report::lock_busy_message(&ctx.tenant))?;
    let failed: Vec<&str> = review
        .summary
        .orgs
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.plan.org_id.as_str())
        .collect();
    if as_json {
        let mut value = plan_json(&review.plan, &review.lines, &[]);
        value["failed_orgs"] = json!(failed);
        value["new_lines_start"] = json!(review.summary.start_date.to_string());
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    print_lines(&review.lines, false);
    print_totals(&review.plan, &review.lines);
    if plans::totals(review.lines.iter().map(|l| &l.line)).to_create > 0 {
        println!(
            "Lines created today would start billing on {} (`seatsync policy set --effective-date`).",
            review.summary.start_date
        );
    }
    if !failed.is_empty() {
        println!(
            "{} organization(s) could not be read and are not in the plan: {} (see `seatsync history --run {}`).",
            failed.len(),
            failed.join(", "),
            review
                .plan
                .run
                .map_or_else(|| "?".into(), |r| r.to_string())
        );
    }
    let id = review.plan.id;
    if review.plan.counts.changes > 0 {
        println!(
            "Approve with `seatsync approve {id} --all` (or ORG[:PACKAGE]...), reject with `seatsync reject {id} ...`, \
             then write the approved lines with `seatsync apply {id}`."
        );
    }
    Ok(())
}

/// `plans`: the tenant's plans, newest first.
pub fn list(ctx: &Context, as_json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let plans = store.plans(&ctx.tenant, 50)?;
    if as_json {
        let value: Vec<Value> = plans.iter().map(record_json).collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if plans.is_empty() {
        println!(
            "No plans yet for tenant '{}': `seatsync review` makes one.",
            ctx.tenant
        );
        return Ok(());
    }
    let mut t = table::new(&[
        "plan",
        "created (UTC)",
        "by",
        "from",
        "status",
        "changes",
        "approved",
        "rejected",
        "undecided",
        "expires (UTC)",
    ]);
    for p in &plans {
        t.add_row(vec![
            p.id.to_string(),
            p.created_at.format("%Y-%m-%d %H:%M").to_string(),
            p.created_by.clone(),
            match p.run {
                Some(run) => format!("{} (run {run})", p.source),
                None => p.source.to_string(),
            },
            p.status.to_string(),
            p.counts.changes.to_string(),
            p.counts.approved.to_string(),
            p.counts.rejected.to_string(),
            p.counts.pending.to_string(),
            p.expires_at.format("%Y-%m-%d %H:%M").to_string(),
        ]);
    }
    table::align_right(&mut t, &[0, 5, 6, 7, 8]);
    println!("{t}");
    Ok(())
}

/// `plan ID`: one plan, line by line.
pub fn show(ctx: &Context, id: i64, as_json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let id = PlanId(id);
    let plan = store.plan(&ctx.tenant, id)?;
    let lines = store.plan_lines(&ctx.tenant, id)?;
    let events = events_of(&store, &ctx.tenant, id)?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan_json(&plan, &lines, &events))?
        );
        return Ok(());
    }
    print_lines(&lines, true);
    print_totals(&plan, &lines);
    if !events.is_empty() {
        let mut t = table::new(&["when (UTC)", "who", "what", "lines"]);
        for e in &events {
            t.add_row(vec![
                e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.actor.clone(),
                e.kind.to_string(),
                e.detail.clone(),
            ]);
        }
        println!("{t}");
    }
    Ok(())
}

/// `approve` / `reject`.
pub fn decide(ctx: &Context, args: &DecideArgs, decision: LineDecision) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let id = PlanId(args.plan);
    let (plan, chosen) = plans::decide(
        &store,
        &ctx.tenant,
        id,
        &args.lines,
        args.all,
        decision,
        &actor(),
    )?;
    let verb = match decision {
        LineDecision::Approved => "Approved",
        _ => "Rejected",
    };
    println!(
        "{verb} {} line(s) of plan {id}: {}.",
        chosen.len(),
        chosen
            .iter()
            .map(|(o, p)| format!("{o}:{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let c = plan.counts;
    println!(
        "Plan {id}: {} approved, {} rejected, {} undecided of {} change(s).{}",
        c.approved,
        c.rejected,
        c.pending,
        c.changes,
        if c.approved > 0 {
            format!(" `seatsync apply {id}` writes the approved ones.")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `apply ID`: exit status 0 when every approved line was written (or
/// already right), 2 when some changed since review, 1 when one failed.
pub async fn apply(ctx: &mut Context, id: i64, as_json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    let runtime = ctx.runtime()?;
    let options = report::sync_options(ctx, &runtime, Trigger::Manual);
    let mut progress = Bar::new(!as_json);
    let applied = plans::apply(
        &store,
        runtime,
        &ctx.tenant,
        PlanId(id),
        options,
        &actor(),
        &mut progress,
    )
    .await;
    progress.finish();
    let applied = applied.map_err(report::lock_busy_message(&ctx.tenant))?;
    if let Some(summary) = &applied.summary {
        super::notify::send(&store, crate::notify::notice_for_run(summary)).await;
    }
    let status = applied
        .summary
        .as_ref()
        .map_or(RunStatus::Attention, |s| s.status());
    let approved: Vec<&PlanLine> = applied
        .lines
        .iter()
        .filter(|l| l.decision == LineDecision::Approved)
        .collect();
    if as_json {
        let mut value = plan_json(&applied.plan, &applied.lines, &[]);
        value["run"] = json!(
            applied
                .summary
                .as_ref()
                .and_then(|s| s.run.as_ref())
                .map(|r| r.id.0)
        );
        value["status"] = json!(status.as_str());
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(report::exit_code(status));
    }
    let mut t = table::new(&["org", "package", "now", "new", "result", "detail"]);
    for l in &approved {
        t.add_row(vec![
            l.line.org_id.clone(),
            l.line.package_key.clone(),
            l.line
                .current_quantity
                .map_or_else(|| "-".into(), quantity_text),
            l.line.new_quantity.to_string(),
            l.result
                .map_or_else(|| "-".into(), |r| result_text(r).to_string()),
            l.result_message.clone().unwrap_or_default(),
        ]);
    }
    table::align_right(&mut t, &[2, 3]);
    println!("{t}");
    let count = |r: ApplyResult| approved.iter().filter(|l| l.result == Some(r)).count();
    let run = applied
        .summary
        .as_ref()
        .and_then(|s| s.run.as_ref())
        .map(|r| format!(" by run {} (`seatsync history --run {}`)", r.id, r.id))
        .unwrap_or_default();
    println!(
        "Plan {id} applied{run}: {} written, {} already right, {} changed since review, {} failed; {} line(s) not approved were not written.",
        count(ApplyResult::Written),
        count(ApplyResult::Unchanged),
        count(ApplyResult::Changed),
        count(ApplyResult::Failed),
        applied.plan.counts.changes as usize - approved.len(),
    );
    if count(ApplyResult::Changed) > 0 {
        println!(
            "Lines changed since review were not written: the next `seatsync review` (or sync) reads them again."
        );
    }
    Ok(report::exit_code(status))
}

/// `policy show` / `policy set`.
pub fn policy(ctx: &Context, command: &PolicyCommand) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let rules = match command {
        PolicyCommand::Show(json) => {
            let rules = store.approval_rules(&ctx.tenant)?;
            if json.json {
                println!("{}", serde_json::to_string_pretty(&rules_json(&rules))?);
                return Ok(());
            }
            rules
        }
        PolicyCommand::Set(args) => {
            let rules = changed_rules(store.approval_rules(&ctx.tenant)?, args);
            store.set_approval_rules(&ctx.tenant, &rules)?;
            println!("Approval rules of tenant '{}' saved.", ctx.tenant);
            rules
        }
    };
    print_rules(&rules);
    Ok(())
}

/// `rules` with what `policy set`'s options change.
fn changed_rules(mut rules: ApprovalRules, args: &PolicySetArgs) -> ApprovalRules {
    if let Some(auto) = args.auto_approve {
        rules.auto_approve = match auto {
            AutoApproveArg::All => AutoApprove::All,
            AutoApproveArg::Increases => AutoApprove::Increases,
            AutoApproveArg::None => AutoApprove::None,
        };
    }
    if let Some(t) = args.hold_decrease_over {
        rules.hold_decrease_over = t.0;
    }
    if let Some(t) = args.hold_increase_over {
        rules.hold_increase_over = t.0;
    }
    if let Some(on) = args.hold_new_lines {
        rules.hold_new_lines = on;
    }
    if let Some(days) = args.plan_expiry_days {
        rules.plan_expiry_days = days;
    }
    if let Some(date) = args.effective_date {
        rules.effective_date = match date {
            EffectiveDateArg::Today => EffectiveDate::Today,
            EffectiveDateArg::NextMonth => EffectiveDate::NextMonth,
        };
    }
    rules
}

fn print_rules(rules: &ApprovalRules) {
    let pct = |p: Option<f64>| p.map_or_else(|| "off".into(), |p| format!("{}%", quantity_text(p)));
    println!("auto-approve:        {}", rules.auto_approve);
    println!("hold decrease over:  {}", pct(rules.hold_decrease_over));
    println!("hold increase over:  {}", pct(rules.hold_increase_over));
    println!(
        "hold new lines:      {}",
        if rules.hold_new_lines { "on" } else { "off" }
    );
    println!("plans expire after:  {} day(s)", rules.plan_expiry_days);
    println!(
        "new lines start:     {}",
        match rules.effective_date {
            EffectiveDate::Today => "the day of the sync (today)",
            EffectiveDate::NextMonth => "the first of the next month (next-month)",
        }
    );
    if rules.holds_nothing() {
        println!("A sync writes every change (nothing is held for review).");
    } else {
        println!(
            "A sync writes what these rules allow and holds the rest in a plan: `seatsync plans`."
        );
    }
}

fn rules_json(rules: &ApprovalRules) -> Value {
    json!({
        "auto_approve": rules.auto_approve.as_str(),
        "hold_decrease_over": rules.hold_decrease_over,
        "hold_increase_over": rules.hold_increase_over,
        "hold_new_lines": rules.hold_new_lines,
        "plan_expiry_days": rules.plan_expiry_days,
        "effective_date": rules.effective_date.as_str(),
    })
}

fn events_of(store: &Store, tenant: &str, id: PlanId) -> anyhow::Result<Vec<PlanEvent>> {
    let mut events: Vec<PlanEvent> = store
        .plan_events(tenant, 10_000)
        .context("reading the plan's decisions")?
        .into_iter()
        .filter(|e| e.plan == id)
        .collect();
    events.reverse();
    Ok(events)
}

fn result_text(result: ApplyResult) -> &'static str {
    match result {
        ApplyResult::Written => "written",
        ApplyResult::Changed => "CHANGED since review",
        ApplyResult::Unchanged => "already right",
        ApplyResult::Failed => "FAILED",
        ApplyResult::NotApproved => "not approved",
    }
}

/// `+2`, `-117`, `0`.
fn signed(value: f64) -> String {
    let text = quantity_text(value.abs());
    if value > 0.0 {
        format!("+{text}")
    } else if value < 0.0 {
        format!("-{text}")
    } else {
        text
    }
}

fn money(value: f64) -> String {
    let text = format!("{:.2}", value.abs());
    if value < 0.0 {
        format!("-{text}")
    } else if value > 0.0 {
        format!("+{text}")
    } else {
        text
    }
}

/// The plan's lines as a table; `decisions` adds each line's decision and
/// what applying did.
fn print_lines(lines: &[PlanLine], decisions: bool) {
    let mut header = vec![
        "org",
        "agreement",
        "package",
        "product",
        "now",
        "new",
        "change",
        "%",
        "action",
        "money",
    ];
    if decisions {
        header.extend(["decision", "applied"]);
    }
    header.push("detail");
    let mut t = table::new(&header);
    for l in lines {
        let x = &l.line;
        let writes = x.action.writes();
        let mut row = vec![
            x.org_id.clone(),
            x.agreement_id.to_string(),
            x.package_key.clone(),
            x.product_id.to_string(),
            x.current_quantity.map_or_else(|| "-".into(), quantity_text),
            x.new_quantity.to_string(),
            if writes {
                signed(plans::change_units(x))
            } else {
                "-".into()
            },
            match (writes, plans::change_percent(x)) {
                (true, Some(p)) => format!("{p:+.1}%"),
                (true, None) if x.action == PlanAction::Create => "new".into(),
                _ => "-".into(),
            },
            x.action.to_string(),
            match (writes, plans::money_effect(x)) {
                (true, Some(m)) => money(m),
                _ => "-".into(),
            },
        ];
        if decisions {
            row.push(if writes {
                l.decision.to_string()
            } else {
                "-".into()
            });
            row.push(or_dash(l.result.map(result_text)));
        }
        row.push(
            l.result_message
                .clone()
                .or_else(|| x.message.clone())
                .unwrap_or_default(),
        );
        t.add_row(row);
    }
    table::align_right(&mut t, &[1, 3, 4, 5, 6, 7, 9]);
    println!("{t}");
}

fn print_totals(plan: &PlanRecord, lines: &[PlanLine]) {
    let t: PlanTotals = plans::totals(lines.iter().map(|l| &l.line));
    let status = match plan.status {
        PlanStatus::Expired => format!(
            "expired ({})",
            plan.expired_because.as_deref().unwrap_or("too old")
        ),
        PlanStatus::Applied => "applied".into(),
        PlanStatus::Pending => format!(
            "pending until {}",
            plan.expires_at.format("%Y-%m-%d %H:%M UTC")
        ),
    };
    println!(
        "Plan {} ({status}): {} to create, {} to update, {} conflict(s); units +{} / -{}; money {} / {} (lines with a unit price).",
        plan.id,
        t.to_create,
        t.to_update,
        t.conflicts,
        quantity_text(t.units_up),
        quantity_text(t.units_down),
        money(t.money_up),
        money(-t.money_down),
    );
}

fn record_json(plan: &PlanRecord) -> Value {
    json!({
        "plan_id": plan.id.0,
        "status": plan.status.as_str(),
        "expired_because": plan.expired_because,
        "source": plan.source.as_str(),
        "run": plan.run.map(|r| r.0),
        "created_at": plan.created_at.to_rfc3339(),
        "created_by": plan.created_by,
        "expires_at": plan.expires_at.to_rfc3339(),
        "applied_at": plan.applied_at.map(|t| t.to_rfc3339()),
        "applied_run": plan.applied_run.map(|r| r.0),
        "counts": {
            "lines": plan.counts.lines,
            "changes": plan.counts.changes,
            "approved": plan.counts.approved,
            "rejected": plan.counts.rejected,
            "pending": plan.counts.pending,
        },
    })
}

/// A plan with its lines, totals and decisions, as `--json` shows it.
fn plan_json(plan: &PlanRecord, lines: &[PlanLine], events: &[PlanEvent]) -> Value {
    let t = plans::totals(lines.iter().map(|l| &l.line));
    let mut value = record_json(plan);
    value["lines"] = lines
        .iter()
        .map(|l| {
            let x = &l.line;
            let writes = x.action.writes();
            json!({
                "org_id": x.org_id,
                "org_name": x.org_name,
                "company_id": x.company_id,
                "agreement_id": x.agreement_id,
                "package": x.package_key,
                "product_id": x.product_id,
                "current_quantity": x.current_quantity,
                "new_quantity": x.new_quantity,
                "change": writes.then(|| plans::change_units(x)),
                "change_percent": if writes { plans::change_percent(x) } else { None },
                "action": x.action.as_str(),
                "unit_price": x.unit_price,
                "money": if writes { plans::money_effect(x) } else { None },
                "line_id": x.line_id,
                "message": x.message,
                "decision": l.decision.as_str(),
                "result": l.result.map(|r| r.as_str()),
                "result_message": l.result_message,
            })
        })
        .collect();
    value["totals"] = json!({
        "units_up": t.units_up,
        "units_down": t.units_down,
        "money_up": t.money_up,
        "money_down": t.money_down,
        "to_create": t.to_create,
        "to_update": t.to_update,
        "conflicts": t.conflicts,
    });
    value["decisions"] = events
        .iter()
        .map(|e| {
            json!({
                "at": e.at.to_rfc3339(),
                "by": e.actor,
                "what": e.kind.as_str(),
                "lines": e.detail,
            })
        })
        .collect();
    value
}
