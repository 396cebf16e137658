//! Review before billing: the rules that decide which changes a sync may
//! write by itself, plans a person approves line by line, and applying a
//! plan only where the PSA still shows what the review saw.
//!
//! The pure parts (what a line is, whether the rules hold it, whether it
//! changed since review, totals, selecting lines by `ORG[:PACKAGE]`) are
//! functions here; [`review`] and [`apply`] run them around a sync
//! ([`crate::sync`]), which reads first and withholds lines when its
//! [`Gate`] says so. The CLI and any other front end call these functions:
//! no rule lives in a front end.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use seatsync_contract::{LineOutcome, LineResult};

use crate::runtime::Runtime;
use chrono::{Datelike, NaiveDate};

use crate::store::{
    ApplyResult, ApprovalRules, AutoApprove, EffectiveDate, LineDecision, NewPlanLine, OrgPlan,
    PlanAction, PlanId, PlanLine, PlanRecord, PlanSource, Store, StoreError,
};
use crate::sync::{OrgOutcome, Progress, SyncError, SyncOptions, SyncSummary, sync_tenant};

/// Why a review, decision or apply could not be done. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The store refused (unknown plan, plan not pending, database).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sync around it could not run.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Nothing is mapped, so there is nothing to review.
    #[error(
        "nothing to review: no enabled organization is mapped with an enabled, mapped package; \
         map them with `seatsync map package` and `seatsync map org`"
    )]
    NothingToReview,
    /// A line selector names nothing in the plan, or nothing to decide.
    #[error("{0}")]
    Selection(String),
    /// Neither `--all` nor a selector was given.
    #[error(
        "name the lines: ORG or ORG:PACKAGE (one or more), or --all for every line that would change"
    )]
    NoSelection,
    /// `apply` of a plan without an approved line.
    #[error(
        "plan {0} has no approved line, so applying it would write nothing: approve lines with \
         `seatsync approve {0} ORG[:PACKAGE]...` (or --all) first"
    )]
    NothingApproved(PlanId),
}

/// What a sync asks before it writes ([`SyncOptions::gate`]).
#[derive(Debug, Clone, Default)]
pub enum Gate {
    /// Write what the connector decides, without reading first.
    None,
    /// The tenant's approval rules: when they can hold anything, each
    /// organization is read first and the lines they hold go into the
    /// run's plan instead of the PSA. Rules that hold nothing (the
    /// default) cost no extra request.
    #[default]
    Rules,
    /// Apply a plan: only its approved lines, each only if the PSA still
    /// shows what the review saw.
    Plan(Arc<ApprovedPlan>),
}

/// The approved lines of a plan being applied.
#[derive(Debug, Clone)]
pub struct ApprovedPlan {
    /// The plan.
    pub id: PlanId,
    /// Its approved lines as the review saw them, by organization, then
    /// package.
    pub lines: HashMap<String, HashMap<String, NewPlanLine>>,
}

/// The plan line a sync report's `result` describes, for organization
/// `org`.
pub fn plan_line(org: &OrgPlan, result: &LineResult) -> NewPlanLine {
    let (action, current, message) = match &result.outcome {
        LineOutcome::Created => (PlanAction::Create, None, None),
        LineOutcome::Updated { previous_quantity } => {
            (PlanAction::Update, previous_quantity.to_f64(), None)
        }
        LineOutcome::Unchanged => (
            PlanAction::Unchanged,
            Some(f64::from(result.quantity)),
            None,
        ),
        LineOutcome::Conflict(ids) => (
            PlanAction::Conflict,
            None,
            Some(if ids.is_empty() {
                "several packages map to this product".to_string()
            } else {
                format!(
                    "several active lines for this product ({}): keep one",
                    ids.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
        ),
        LineOutcome::Skipped(reason) => (PlanAction::Skipped, None, Some(reason.clone())),
        LineOutcome::Failed(error) => (PlanAction::Failed, None, Some(error.to_string())),
    };
    NewPlanLine {
        org_id: org.org_id.clone(),
        org_name: org.org_name.clone(),
        company_id: org.company_id,
        agreement_id: org.agreement_id,
        package_key: result.package_key.clone(),
        product_id: result.product_id,
        current_quantity: current,
        new_quantity: result.quantity,
        action,
        line_id: result.line_id,
        unit_price: result.unit_price.as_ref().and_then(|p| p.to_f64()),
        message,
    }
}

/// Why `rules` hold `line` for a person, or `None` when a sync may write
/// it. Holds come first (a threshold or new lines); then what
/// [`AutoApprove`] does not let through. Lines that write nothing are
/// never held.
pub fn hold_reason(rules: &ApprovalRules, line: &NewPlanLine) -> Option<String> {
    let current = line.current_quantity.unwrap_or(0.0);
    let new = f64::from(line.new_quantity);
    match line.action {
        PlanAction::Create => {
            if rules.hold_new_lines {
                return Some("a new line (the policy holds new lines: --hold-new-lines)".into());
            }
            (rules.auto_approve == AutoApprove::None)
                .then(|| "nothing is approved by itself (--auto-approve none)".into())
        }
        PlanAction::Update if new > current => {
            if let Some(limit) = rules.hold_increase_over {
                let pct = percent_change(current, new);
                if pct.is_none_or(|p| p > limit) {
                    return Some(format!(
                        "an increase of {} ({} → {}) is over the {}% limit (--hold-increase-over)",
                        percent_text(pct),
                        quantity_text(current),
                        line.new_quantity,
                        quantity_text(limit)
                    ));
                }
            }
            (rules.auto_approve == AutoApprove::None)
                .then(|| "nothing is approved by itself (--auto-approve none)".into())
        }
        PlanAction::Update if new < current => {
            if let Some(limit) = rules.hold_decrease_over {
                let pct = percent_change(current, new).map(f64::abs);
                if pct.is_some_and(|p| p > limit) {
                    return Some(format!(
                        "a drop of {} ({} → {}) is over the {}% limit (--hold-decrease-over)",
                        percent_text(pct),
                        quantity_text(current),
                        line.new_quantity,
                        quantity_text(limit)
                    ));
                }
            }
            match rules.auto_approve {
                AutoApprove::All => None,
                AutoApprove::Increases => Some(format!(
                    "a decrease ({} → {}) waits for a person (--auto-approve increases)",
                    quantity_text(current),
                    line.new_quantity
                )),
                AutoApprove::None => {
                    Some("nothing is approved by itself (--auto-approve none)".into())
                }
            }
        }
        _ => None,
    }
}

/// Why the PSA no longer shows what a review saw for a line (`seen` is
/// what it shows now), or `None` when it still does. `line_noun` is what
/// the connector calls a billing line.
pub fn changed_since_review(
    reviewed: &NewPlanLine,
    seen: &NewPlanLine,
    line_noun: &str,
) -> Option<String> {
    let prefix = "changed since review";
    match (reviewed.action, seen.action) {
        (PlanAction::Create, PlanAction::Create) => None,
        (PlanAction::Create, _) => Some(format!(
            "{prefix}: the review saw no {line_noun} for this product, and now there is one{}",
            seen.line_id
                .map(|id| format!(" ({id})"))
                .unwrap_or_default()
        )),
        (_, PlanAction::Create) => Some(format!(
            "{prefix}: the {line_noun}{} the review saw was cancelled or deleted",
            reviewed
                .line_id
                .map(|id| format!(" {id}"))
                .unwrap_or_default()
        )),
        (_, PlanAction::Conflict) => Some(format!(
            "{prefix}: the product now has several active {line_noun}s"
        )),
        (_, PlanAction::Skipped | PlanAction::Failed) => Some(format!(
            "{prefix}: it cannot be read as the review did ({})",
            seen.message.as_deref().unwrap_or("no reason given")
        )),
        _ if seen.line_id != reviewed.line_id => Some(format!(
            "{prefix}: the product's {line_noun} is now {} instead of {}",
            seen.line_id.map_or("unknown".into(), |i| i.to_string()),
            reviewed.line_id.map_or("unknown".into(), |i| i.to_string()),
        )),
        _ if seen.current_quantity != reviewed.current_quantity => Some(format!(
            "{prefix}: its quantity is now {} (the review saw {})",
            seen.current_quantity
                .map_or("unknown".into(), quantity_text),
            reviewed
                .current_quantity
                .map_or("unknown".into(), quantity_text),
        )),
        _ => None,
    }
}

/// The change of a line in units: new minus current (current 0 for a line
/// to create).
pub fn change_units(line: &NewPlanLine) -> f64 {
    f64::from(line.new_quantity) - line.current_quantity.unwrap_or(0.0)
}

/// The change in percent of the current quantity; `None` for a line to
/// create or a current quantity of 0.
pub fn change_percent(line: &NewPlanLine) -> Option<f64> {
    match line.action {
        PlanAction::Create => None,
        _ => percent_change(
            line.current_quantity.unwrap_or(0.0),
            f64::from(line.new_quantity),
        ),
    }
}

/// The money effect: the change in units times the unit price, when the PSA
/// reported one.
pub fn money_effect(line: &NewPlanLine) -> Option<f64> {
    line.unit_price.map(|price| change_units(line) * price)
}

/// The day a line created on `today` starts billing under `rule`: today,
/// or the first of the next month (even on the first of this one: billing
/// in advance starts with the next invoice).
pub fn start_date(rule: EffectiveDate, today: NaiveDate) -> NaiveDate {
    match rule {
        EffectiveDate::Today => today,
        EffectiveDate::NextMonth => {
            let (year, month) = match today.month() {
                12 => (today.year() + 1, 1),
                m => (today.year(), m + 1),
            };
            NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(today)
        }
    }
}

fn percent_change(from: f64, to: f64) -> Option<f64> {
    (from != 0.0).then(|| (to - from) / from * 100.0)
}

fn percent_text(pct: Option<f64>) -> String {
    pct.map_or("∞%".into(), |p| format!("{:.1}%", p.abs()))
}

/// A quantity as people write it: `12`, `12.5`.
pub fn quantity_text(q: f64) -> String {
    seatsync_contract::Decimal::from_f64(q).0
}

/// A plan's totals over the lines that would change.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PlanTotals {
    /// Units added by increases and created lines.
    pub units_up: f64,
    /// Units removed by decreases (a positive number).
    pub units_down: f64,
    /// Money added, over lines with a unit price.
    pub money_up: f64,
    /// Money removed, over lines with a unit price (a positive number).
    pub money_down: f64,
    /// Lines to create.
    pub to_create: u32,
    /// Lines to update.
    pub to_update: u32,
    /// Lines in conflict (nothing written; a person must look).
    pub conflicts: u32,
}

/// The totals of `lines`.
pub fn totals<'a>(lines: impl IntoIterator<Item = &'a NewPlanLine>) -> PlanTotals {
    let mut t = PlanTotals::default();
    for line in lines {
        match line.action {
            PlanAction::Create => t.to_create += 1,
            PlanAction::Update => t.to_update += 1,
            PlanAction::Conflict => t.conflicts += 1,
            _ => continue,
        }
        if !line.action.writes() {
            continue;
        }
        let units = change_units(line);
        if units >= 0.0 {
            t.units_up += units;
        } else {
            t.units_down -= units;
        }
        match money_effect(line) {
            Some(m) if m >= 0.0 => t.money_up += m,
            Some(m) => t.money_down -= m,
            None => {}
        }
    }
    t
}

/// The `(org, package)` lines of a plan that `selectors` (`ORG` or
/// `ORG:PACKAGE`) or `all` name, among those that would change something
/// (only they can be approved or rejected). An organization id that itself
/// contains `:` is matched whole first.
pub fn select(
    plan: PlanId,
    lines: &[PlanLine],
    selectors: &[String],
    all: bool,
) -> Result<Vec<(String, String)>, PlanError> {
    let decidable = |l: &&PlanLine| l.line.action.writes();
    let key = |l: &PlanLine| (l.line.org_id.clone(), l.line.package_key.clone());
    if all {
        if !selectors.is_empty() {
            return Err(PlanError::Selection(
                "give either --all or lines (ORG or ORG:PACKAGE), not both".into(),
            ));
        }
        let chosen: Vec<_> = lines.iter().filter(decidable).map(key).collect();
        if chosen.is_empty() {
            return Err(PlanError::Selection(format!(
                "plan {plan} has no line that would change anything: nothing to decide"
            )));
        }
        return Ok(chosen);
    }
    if selectors.is_empty() {
        return Err(PlanError::NoSelection);
    }
    let orgs: BTreeSet<&str> = lines.iter().map(|l| l.line.org_id.as_str()).collect();
    let mut chosen = BTreeSet::new();
    for selector in selectors {
        let (org, package) = if orgs.contains(selector.as_str()) {
            (selector.as_str(), None)
        } else {
            match selector.rsplit_once(':') {
                Some((org, package)) => (org, Some(package)),
                None => (selector.as_str(), None),
            }
        };
        if !orgs.contains(org) {
            return Err(PlanError::Selection(format!(
                "plan {plan} has no line for organization '{org}': run `seatsync plan {plan}` to see its lines"
            )));
        }
        let of_org: Vec<&PlanLine> = lines.iter().filter(|l| l.line.org_id == org).collect();
        match package {
            Some(package) => {
                let Some(line) = of_org.iter().find(|l| l.line.package_key == package) else {
                    let packages = of_org
                        .iter()
                        .map(|l| l.line.package_key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(PlanError::Selection(format!(
                        "plan {plan} has no line for package '{package}' of organization '{org}' \
                         (its packages: {packages})"
                    )));
                };
                if !line.line.action.writes() {
                    return Err(PlanError::Selection(format!(
                        "line {org}:{package} of plan {plan} would not change anything ({}): there is nothing to decide",
                        line.line.action
                    )));
                }
                chosen.insert(key(line));
            }
            None => {
                let before = chosen.len();
                chosen.extend(of_org.iter().copied().filter(decidable).map(key));
                if chosen.len() == before && !of_org.iter().any(decidable) {
                    return Err(PlanError::Selection(format!(
                        "organization '{org}' has no line in plan {plan} that would change anything: there is nothing to decide"
                    )));
                }
            }
        }
    }
    Ok(chosen.into_iter().collect())
}

/// A saved review: the plan, its lines, and the dry run that saw them.
#[derive(Debug)]
pub struct Review {
    /// The plan.
    pub plan: PlanRecord,
    /// Its lines.
    pub lines: Vec<PlanLine>,
    /// The dry run (its failed organizations have no lines in the plan).
    pub summary: SyncSummary,
}

/// `seatsync review`: a dry run of the tenant's organizations (`options`'
/// `orgs`, or all), saved as a pending plan made by `actor`.
pub async fn review(
    store: &Store,
    runtime: Arc<Runtime>,
    tenant: &str,
    mut options: SyncOptions,
    actor: &str,
    progress: &mut impl Progress,
) -> Result<Review, PlanError> {
    options.dry_run = true;
    options.gate = Gate::None;
    let summary = sync_tenant(store, runtime, tenant, &options, progress).await?;
    let Some(run) = &summary.run else {
        return Err(PlanError::NothingToReview);
    };
    let mut lines = Vec::new();
    for outcome in &summary.orgs {
        if let Ok(report) = &outcome.result {
            lines.extend(report.lines.iter().map(|l| plan_line(&outcome.plan, l)));
        }
    }
    let id = store.create_plan(tenant, PlanSource::Review, Some(run.id), actor, &lines)?;
    Ok(Review {
        plan: store.plan(tenant, id)?,
        lines: store.plan_lines(tenant, id)?,
        summary,
    })
}

/// Records `actor`'s `decision` on the lines of plan `id` that `selectors`
/// or `all` name ([`select`]); the plan must be pending. Returns the plan
/// and the lines decided.
pub fn decide(
    store: &Store,
    tenant: &str,
    id: PlanId,
    selectors: &[String],
    all: bool,
    decision: LineDecision,
    actor: &str,
) -> Result<(PlanRecord, Vec<(String, String)>), PlanError> {
    let plan = store.plan(tenant, id)?;
    // Refused before a selector error; the store checks again under its
    // transaction.
    plan.require_pending()?;
    let lines = store.plan_lines(tenant, id)?;
    let chosen = select(id, &lines, selectors, all)?;
    let plan = store.decide_plan_lines(tenant, id, &chosen, decision, actor)?;
    Ok((plan, chosen))
}

/// What applying a plan did.
#[derive(Debug)]
pub struct Applied {
    /// The plan, now applied.
    pub plan: PlanRecord,
    /// Its lines, each with what applying did.
    pub lines: Vec<PlanLine>,
    /// The run that wrote them; `None` when no approved line's
    /// organization was still mapped, so nothing was run.
    pub summary: Option<SyncSummary>,
}

/// `seatsync apply`: writes the approved lines of plan `id`, each only if
/// the PSA still shows what the review saw (others are reported changed
/// since review and not written), in a run of `options` (its gate and
/// organizations are set here). The plan is marked applied by that run
/// before its first request, so it is applied at most once.
pub async fn apply(
    store: &Store,
    runtime: Arc<Runtime>,
    tenant: &str,
    id: PlanId,
    mut options: SyncOptions,
    actor: &str,
    progress: &mut impl Progress,
) -> Result<Applied, PlanError> {
    let plan = store.plan(tenant, id)?;
    // The run that writes it checks again under its lock (`claim_plan`).
    plan.require_pending()?;
    let lines = store.plan_lines(tenant, id)?;
    let mut approved: HashMap<String, HashMap<String, NewPlanLine>> = HashMap::new();
    for l in lines
        .iter()
        .filter(|l| l.decision == LineDecision::Approved && l.line.action.writes())
    {
        approved
            .entry(l.line.org_id.clone())
            .or_default()
            .insert(l.line.package_key.clone(), l.line.clone());
    }
    if approved.is_empty() {
        return Err(PlanError::NothingApproved(id));
    }
    // Organizations no longer enabled and mapped are not synced: their
    // approved lines are reported changed since review.
    let mapped: BTreeSet<String> = store
        .sync_plan(tenant)?
        .into_iter()
        .map(|p| p.org_id)
        .collect();
    let mut results: Vec<(String, String, ApplyResult, Option<String>)> = Vec::new();
    approved.retain(|org, packages| {
        if mapped.contains(org) {
            return true;
        }
        for package in packages.keys() {
            results.push((
                org.clone(),
                package.clone(),
                ApplyResult::Changed,
                Some(
                    "changed since review: the organization is no longer enabled and mapped".into(),
                ),
            ));
        }
        false
    });
    options.dry_run = false;
    options.orgs = approved.keys().cloned().collect();
    options.orgs.sort();
    options.actor = actor.to_string();
    options.gate = Gate::Plan(Arc::new(ApprovedPlan {
        id,
        lines: approved.clone(),
    }));
    let summary = if options.orgs.is_empty() {
        // Nothing left to write: the plan is applied all the same, so that
        // it is not applied later when the mappings are back.
        store.claim_plan(tenant, id, None, actor)?;
        None
    } else {
        Some(sync_tenant(store, runtime, tenant, &options, progress).await?)
    };
    if let Some(summary) = &summary {
        for outcome in &summary.orgs {
            let org = &outcome.plan.org_id;
            let Some(packages) = approved.get(org) else {
                continue;
            };
            for package in packages.keys() {
                results.push(line_result(outcome, package));
            }
        }
    }
    for l in lines
        .iter()
        .filter(|l| l.decision != LineDecision::Approved && l.line.action.writes())
    {
        results.push((
            l.line.org_id.clone(),
            l.line.package_key.clone(),
            ApplyResult::NotApproved,
            None,
        ));
    }
    store.record_plan_results(id, &results)?;
    Ok(Applied {
        plan: store.plan(tenant, id)?,
        lines: store.plan_lines(tenant, id)?,
        summary,
    })
}

/// What applying did with `package` of `outcome`'s organization.
fn line_result(
    outcome: &OrgOutcome,
    package: &str,
) -> (String, String, ApplyResult, Option<String>) {
    let org = outcome.plan.org_id.clone();
    let package = package.to_string();
    if let Some(w) = outcome
        .withheld
        .iter()
        .find(|w| w.line.package_key == package)
    {
        return (org, package, ApplyResult::Changed, Some(w.message.clone()));
    }
    if let Some(waiting) = &outcome.waiting {
        return (org, package, ApplyResult::Failed, Some(waiting.clone()));
    }
    let report = match &outcome.result {
        Ok(report) => report,
        Err(message) => return (org, package, ApplyResult::Failed, Some(message.clone())),
    };
    let Some(line) = report.lines.iter().find(|l| l.package_key == package) else {
        return (
            org,
            package,
            ApplyResult::Failed,
            Some("the sync did not report this line".into()),
        );
    };
    match &line.outcome {
        LineOutcome::Created | LineOutcome::Updated { .. } => {
            (org, package, ApplyResult::Written, None)
        }
        LineOutcome::Unchanged => (org, package, ApplyResult::Unchanged, None),
        LineOutcome::Conflict(_) => (
            org,
            package,
            ApplyResult::Changed,
            Some("changed since review: the product now has several active lines".into()),
        ),
        LineOutcome::Skipped(reason) => (org, package, ApplyResult::Failed, Some(reason.clone())),
        LineOutcome::Failed(error) => (org, package, ApplyResult::Failed, Some(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DEFAULT_PLAN_EXPIRY_DAYS;

    fn line(action: PlanAction, current: Option<f64>, new: u32) -> NewPlanLine {
        NewPlanLine {
            org_id: "org-1".into(),
            org_name: "Org One".into(),
            company_id: 1,
            agreement_id: 2,
            package_key: "Business".into(),
            product_id: 3,
            current_quantity: current,
            new_quantity: new,
            action,
            line_id: (action != PlanAction::Create).then_some(50),
            unit_price: Some(2.5),
            message: None,
        }
    }

    fn rules(auto: AutoApprove) -> ApprovalRules {
        ApprovalRules {
            auto_approve: auto,
            hold_decrease_over: None,
            hold_increase_over: None,
            hold_new_lines: false,
            plan_expiry_days: DEFAULT_PLAN_EXPIRY_DAYS,
            effective_date: EffectiveDate::Today,
        }
    }

    #[test]
    fn increases_with_a_decrease_limit_hold_the_big_drop_only() {
        let r = ApprovalRules {
            hold_decrease_over: Some(20.0),
            ..rules(AutoApprove::Increases)
        };
        assert_eq!(
            hold_reason(&r, &line(PlanAction::Update, Some(10.0), 12)),
            None
        );
        assert_eq!(hold_reason(&r, &line(PlanAction::Create, None, 5)), None);
        let drop = hold_reason(&r, &line(PlanAction::Update, Some(120.0), 3)).unwrap();
        assert_eq!(
            drop,
            "a drop of 97.5% (120 → 3) is over the 20% limit (--hold-decrease-over)"
        );
        // Under the limit, a decrease still waits: `increases` approves
        // only increases.
        let small = hold_reason(&r, &line(PlanAction::Update, Some(10.0), 9)).unwrap();
        assert!(small.contains("--auto-approve increases"), "{small}");
        assert_eq!(
            hold_reason(&r, &line(PlanAction::Unchanged, Some(5.0), 5)),
            None
        );
    }

    #[test]
    fn all_with_limits_holds_only_past_the_limits() {
        let r = ApprovalRules {
            hold_decrease_over: Some(20.0),
            hold_increase_over: Some(50.0),
            ..rules(AutoApprove::All)
        };
        assert_eq!(
            hold_reason(&r, &line(PlanAction::Update, Some(100.0), 80)),
            None
        );
        assert!(hold_reason(&r, &line(PlanAction::Update, Some(100.0), 79)).is_some());
        assert_eq!(
            hold_reason(&r, &line(PlanAction::Update, Some(10.0), 15)),
            None
        );
        let up = hold_reason(&r, &line(PlanAction::Update, Some(10.0), 16)).unwrap();
        assert!(up.starts_with("an increase of 60.0% (10 → 16)"), "{up}");
        // From zero, any increase is past a percentage limit.
        assert!(hold_reason(&r, &line(PlanAction::Update, Some(0.0), 1)).is_some());
        assert_eq!(
            hold_reason(
                &rules(AutoApprove::All),
                &line(PlanAction::Update, Some(120.0), 3)
            ),
            None
        );
    }

    #[test]
    fn none_holds_every_change_and_new_lines_can_be_held() {
        let r = rules(AutoApprove::None);
        for l in [
            line(PlanAction::Create, None, 5),
            line(PlanAction::Update, Some(5.0), 6),
            line(PlanAction::Update, Some(5.0), 4),
        ] {
            assert!(hold_reason(&r, &l).is_some(), "{l:?}");
        }
        let held_new = ApprovalRules {
            hold_new_lines: true,
            ..rules(AutoApprove::All)
        };
        assert!(hold_reason(&held_new, &line(PlanAction::Create, None, 5)).is_some());
        assert_eq!(
            hold_reason(&held_new, &line(PlanAction::Update, Some(5.0), 6)),
            None
        );
    }

    #[test]
    fn a_line_is_changed_since_review_unless_the_psa_shows_the_same() {
        let reviewed = line(PlanAction::Update, Some(120.0), 3);
        assert_eq!(changed_since_review(&reviewed, &reviewed, "addition"), None);
        let moved = line(PlanAction::Update, Some(118.0), 3);
        assert_eq!(
            changed_since_review(&reviewed, &moved, "addition").unwrap(),
            "changed since review: its quantity is now 118 (the review saw 120)"
        );
        let gone = line(PlanAction::Create, None, 3);
        assert!(
            changed_since_review(&reviewed, &gone, "addition")
                .unwrap()
                .contains("cancelled or deleted")
        );
        let created = line(PlanAction::Create, None, 3);
        assert_eq!(changed_since_review(&created, &created, "addition"), None);
        assert!(
            changed_since_review(
                &created,
                &line(PlanAction::Unchanged, Some(3.0), 3),
                "addition"
            )
            .unwrap()
            .contains("now there is one (50)")
        );
        let replaced = NewPlanLine {
            line_id: Some(51),
            ..reviewed.clone()
        };
        assert!(changed_since_review(&reviewed, &replaced, "addition").is_some());
    }

    #[test]
    fn new_lines_start_today_or_on_the_first_of_next_month() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            start_date(EffectiveDate::Today, day("2026-11-27")),
            day("2026-11-27")
        );
        assert_eq!(
            start_date(EffectiveDate::NextMonth, day("2026-11-27")),
            day("2026-12-01")
        );
        assert_eq!(
            start_date(EffectiveDate::NextMonth, day("2026-12-31")),
            day("2027-01-01")
        );
        assert_eq!(
            start_date(EffectiveDate::NextMonth, day("2026-02-01")),
            day("2026-03-01")
        );
    }

    #[test]
    fn totals_count_units_and_money_both_ways() {
        let lines = [
            line(PlanAction::Update, Some(10.0), 12),
            line(PlanAction::Update, Some(120.0), 3),
            line(PlanAction::Create, None, 4),
            NewPlanLine {
                unit_price: None,
                ..line(PlanAction::Update, Some(1.0), 2)
            },
            line(PlanAction::Unchanged, Some(7.0), 7),
            line(PlanAction::Conflict, None, 7),
        ];
        let t = totals(&lines);
        assert_eq!(t.units_up, 2.0 + 4.0 + 1.0);
        assert_eq!(t.units_down, 117.0);
        assert_eq!(t.money_up, (2.0 + 4.0) * 2.5);
        assert_eq!(t.money_down, 117.0 * 2.5);
        assert_eq!((t.to_create, t.to_update, t.conflicts), (1, 3, 1));
        assert_eq!(change_percent(&lines[1]).map(|p| p.round()), Some(-98.0));
        assert_eq!(change_percent(&lines[2]), None);
    }

    fn stored(org: &str, package: &str, action: PlanAction) -> PlanLine {
        PlanLine {
            line: NewPlanLine {
                org_id: org.into(),
                package_key: package.into(),
                ..line(action, Some(1.0), 2)
            },
            decision: LineDecision::Pending,
            result: None,
            result_message: None,
        }
    }

    #[test]
    fn selectors_name_lines_that_change_and_refuse_others_clearly() {
        let lines = [
            stored("org-1", "Business", PlanAction::Update),
            stored("org-1", "Advanced", PlanAction::Unchanged),
            stored("org:2", "Business", PlanAction::Create),
        ];
        let id = PlanId(4);
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            select(id, &lines, &s(&["org-1"]), false).unwrap(),
            vec![("org-1".into(), "Business".into())]
        );
        // An organization id with a colon is matched whole.
        assert_eq!(select(id, &lines, &s(&["org:2"]), false).unwrap().len(), 1);
        assert_eq!(select(id, &lines, &[], true).unwrap().len(), 2);
        let err = |v: &[&str]| select(id, &lines, &s(v), false).unwrap_err().to_string();
        assert!(err(&["org-9"]).contains("no line for organization 'org-9'"));
        assert!(
            err(&["org-1:Pro"]).contains("its packages: Business, Advanced"),
            "{}",
            err(&["org-1:Pro"])
        );
        assert!(err(&["org-1:Advanced"]).contains("would not change anything (unchanged)"));
        assert!(matches!(
            select(id, &lines, &[], false),
            Err(PlanError::NoSelection)
        ));
    }
}
