//! One sync run of a tenant: every enabled, mapped organization through the
//! connector, several at a time, each result committed to history as it
//! arrives. Before that, one list of the tenant's agreements catches
//! mappings whose agreement was deleted, cancelled or moved since.
//!
//! The order of steps is what makes a run safe to interrupt: the tenant's
//! sync lock is taken first (no second process can run), runs a crash left
//! behind are marked interrupted, the run record is committed before the
//! first request, each write is journaled before it is sent, and
//! organizations' results are committed in small batches ([`history`]).
//! A killed run therefore leaves a trace, and the next run simply reads
//! the PSA again: the connector reads before it writes.

mod history;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use seatsync_contract::{
    ConnectorDescription, ConnectorError, Contract, LineOutcome, RecordId, Settings, SyncReport,
    SyncRequest,
};
use tokio::task::JoinSet;

use crate::connection::{self, ConnectionError, Secrets};
pub use crate::plans::Gate;
use crate::plans::{self, ApprovedPlan};
use crate::resolve::{self, LineDuplicate};
use crate::runtime::{
    Call, CallFailed, Exchange, JournalWrite, NetworkPolicy, Runtime, RuntimeError, WriteJournal,
};
use crate::store::{
    ApprovalRules, DataTypes, JournalEntry, LockGuard, NewPlanLine, NewWrite, OrgPlan, PlanId,
    RunId, RunRecord, RunScope, RunStatus, Store, StoreError, Trigger, Withheld, WithheldLine,
    WriteResolution, WriteState, site_lock_name, sync_lock_name,
};

/// How to run a sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Read and decide, write nothing.
    pub dry_run: bool,
    /// Only these organizations; empty means all enabled, mapped ones.
    pub orgs: Vec<String>,
    /// Organizations in flight at once (at least 1).
    pub concurrency: usize,
    /// Who asked.
    pub trigger: Trigger,
    /// Today, for the connector: a line ended on or before it is ended.
    pub effective_date: NaiveDate,
    /// The day created lines start billing; `None`: as the tenant's policy
    /// says (`effective_date`: today, or the first of next month).
    pub start_date: Option<NaiveDate>,
    /// Organizations that failed for a transient reason (no answer, 5xx,
    /// 429 past the connector's retries) are tried once more this long
    /// after the others finished; `None` does not try them again.
    pub retry_pause: Option<Duration>,
    /// How long after a write was sent the PSA could still apply it (the
    /// host's request timeouts and a margin): an organization with a write
    /// that got no answer waits this long before it is written to again
    /// ([`settle_window`]).
    pub settle_window: Duration,
    /// What the run asks before it writes: the tenant's approval rules
    /// (the default), nothing, or a plan's approved lines. A dry run writes
    /// nothing and asks nothing.
    pub gate: Gate,
    /// Who runs it (a user name, or `daemon`): recorded on the plan the
    /// run holds lines in.
    pub actor: String,
    /// The daily slot this run is for, when a worker claims it: once the
    /// locks are held, the run does nothing
    /// ([`SyncError::AlreadySynced`]) if a run that started at or after
    /// the slot has completed (another worker synced it meanwhile).
    pub slot: Option<DateTime<Utc>>,
}

impl SyncOptions {
    /// A sync of every organization for `trigger` on `effective_date`:
    /// four organizations at once, transient failures tried again after
    /// [`DEFAULT_RETRY_PAUSE`], the settle window of the default limits.
    pub fn new(trigger: Trigger, effective_date: NaiveDate) -> SyncOptions {
        SyncOptions {
            dry_run: false,
            orgs: Vec::new(),
            concurrency: 4,
            trigger,
            effective_date,
            start_date: None,
            retry_pause: Some(DEFAULT_RETRY_PAUSE),
            settle_window: settle_window(&crate::runtime::Limits::default()),
            gate: Gate::Rules,
            actor: match trigger {
                Trigger::Manual => "seatsync".into(),
                Trigger::Daemon | Trigger::Retry => "daemon".into(),
            },
            slot: None,
        }
    }
}

/// The settle window for a runtime's limits: the longest a request can
/// take before the host gives up on it (connect, then the response head),
/// plus a minute for a server that finishes a request its client
/// abandoned.
pub fn settle_window(limits: &crate::runtime::Limits) -> Duration {
    limits.connect_timeout + limits.first_byte_timeout + SETTLE_MARGIN
}

/// What [`settle_window`] adds to the host's own timeouts.
pub const SETTLE_MARGIN: Duration = Duration::from_secs(60);

/// How long a run waits before trying transiently failed organizations
/// again, unless told otherwise: long enough for a gateway to recover.
pub const DEFAULT_RETRY_PAUSE: Duration = Duration::from_secs(60);

/// One organization's result.
#[derive(Debug, Clone)]
pub struct OrgOutcome {
    /// What was synced.
    pub plan: OrgPlan,
    /// The connector's report, or why the organization failed as a whole.
    pub result: Result<SyncReport, String>,
    /// HTTP requests the host saw for this organization.
    pub requests: u32,
    /// Writes among them.
    pub writes: u32,
    /// How long the call took.
    pub elapsed: Duration,
    /// Whether it failed only for reasons that may pass (no answer, 5xx,
    /// 429 past the connector's retries), so trying again may succeed;
    /// never for a 4xx, a conflict or a sandbox limit.
    pub transient: bool,
    /// Which attempt this is: 1, or 2 when tried again at the end of the
    /// run.
    pub attempt: u32,
    /// Set when the organization was not called because an earlier write
    /// of its got no answer and may still be applied: for what, and until
    /// when. Its lines are `waiting`, neither failed nor skipped.
    pub waiting: Option<String>,
    /// What became of its writes in the journal (and of earlier ones it
    /// waited for), recorded with its result.
    pub journal: Vec<WriteResolution>,
    /// Its report's conflict lines that are duplicates seatsync itself
    /// created ([`crate::resolve`]), with what to tell a person; recorded
    /// as those lines' messages.
    pub duplicates: Vec<LineDuplicate>,
    /// Lines not sent to the connector: held for a person by the tenant's
    /// approval rules (recorded in the run's plan), or, applying a plan,
    /// changed since its review ([`Gate`]).
    pub withheld: Vec<WithheldLine>,
    /// Whether the PSA refused the connection's credentials (401 or 403)
    /// for the organization as a whole.
    pub auth_failed: bool,
}

impl OrgOutcome {
    /// Whether the organization failed as a whole or in one of its lines.
    pub fn failed(&self) -> bool {
        if self.waiting.is_some() {
            return false;
        }
        match &self.result {
            Ok(report) => report
                .lines
                .iter()
                .any(|l| matches!(l.outcome, LineOutcome::Failed(_))),
            Err(_) => true,
        }
    }

    /// Whether nothing failed but a line needs a person (a conflict, a
    /// line held for review or changed since review), or the organization
    /// waits for an earlier write to settle.
    pub fn needs_attention(&self) -> bool {
        if self.waiting.is_some() {
            return true;
        }
        if !self.failed() && !self.withheld.is_empty() {
            return true;
        }
        match &self.result {
            Ok(report) => {
                !self.failed()
                    && report
                        .lines
                        .iter()
                        .any(|l| matches!(l.outcome, LineOutcome::Conflict(_)))
            }
            Err(_) => false,
        }
    }

    /// Whether the organization synced without a failed or conflicting line.
    pub fn succeeded(&self) -> bool {
        !self.failed() && !self.needs_attention()
    }
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct SyncSummary {
    /// The run as recorded in history; `None` when there was nothing to
    /// sync, so no run was recorded.
    pub run: Option<RunRecord>,
    /// Each organization's outcome, in the order they finished.
    pub orgs: Vec<OrgOutcome>,
    /// Requests spent checking the mapped agreements before syncing (one
    /// per 1,000 agreements), on top of the organizations' own.
    pub check_requests: u32,
    /// The connector's description: its PSA's name and nouns, for messages.
    pub connector: Arc<ConnectorDescription>,
    /// The tenant synced.
    pub tenant: String,
    /// The plan the run's held lines are in, if it held any
    /// (`seatsync plan ID`).
    pub held_in: Option<PlanId>,
    /// The day lines the run created (or, in a dry run, would create)
    /// start billing.
    pub start_date: NaiveDate,
}

impl SyncSummary {
    /// Whether every organization succeeded.
    pub fn succeeded(&self) -> bool {
        self.orgs.iter().all(OrgOutcome::succeeded)
    }

    /// The run's status as history records it: `succeeded` when there was
    /// nothing to sync.
    pub fn status(&self) -> RunStatus {
        self.run.as_ref().map_or(RunStatus::Succeeded, |r| r.status)
    }

    /// The organizations that are still failed for a transient reason at
    /// the end of the run (the daemon tries them again later).
    pub fn transiently_failed(&self) -> Vec<String> {
        let mut orgs: Vec<String> = self
            .orgs
            .iter()
            .filter(|o| o.transient)
            .map(|o| o.plan.org_id.clone())
            .collect();
        orgs.sort();
        orgs
    }
}

/// Whether a connector error may pass if the organization is tried again
/// later: no answer, a 5xx, or throttling that outlasted the retries.
pub fn is_transient(error: &ConnectorError) -> bool {
    match error {
        ConnectorError::Transport(_) | ConnectorError::RateLimited { .. } => true,
        ConnectorError::Remote { status, .. } => *status >= 500,
        ConnectorError::InvalidConfig(_)
        | ConnectorError::Unauthorized(_)
        | ConnectorError::Forbidden { .. }
        | ConnectorError::NotFound(_)
        | ConnectorError::InvalidResponse(_) => false,
    }
}

/// Whether a report failed only in lines whose errors may pass.
fn report_is_transient(report: &SyncReport) -> bool {
    let mut failed = report.lines.iter().filter_map(|l| match &l.outcome {
        LineOutcome::Failed(e) => Some(e),
        _ => None,
    });
    let mut any = false;
    let all = failed.all(|e| {
        any = true;
        is_transient(e)
    });
    any && all
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No connection stored for the tenant.
    #[error("tenant '{0}' has no connection: run `seatsync connect` first")]
    NotConnected(String),
    /// Organizations named with `--org` that are not enabled and mapped.
    #[error(
        "cannot sync {}: not an enabled, mapped organization; run `seatsync orgs` to see them",
        .0.join(", ")
    )]
    UnknownOrgs(Vec<String>),
    /// The store failed (lock busy, database errors).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored site cannot be used by the sandbox.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The stored connection cannot be used.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The slot a worker claimed was synced by another meanwhile
    /// ([`SyncOptions::slot`]); nothing was done.
    #[error("tenant '{tenant}' was already synced for the slot of {slot}")]
    AlreadySynced {
        /// The tenant.
        tenant: String,
        /// The slot.
        slot: DateTime<Utc>,
    },
}

/// What a caller of [`sync_tenant`] hears while the run goes on (progress
/// output). Both methods do nothing by default; `()` hears nothing.
pub trait Progress {
    /// The run starts, for `orgs` organizations.
    fn planned(&mut self, orgs: usize) {
        let _ = orgs;
    }

    /// An organization finished; its result is already committed.
    fn finished(&mut self, outcome: &OrgOutcome) {
        let _ = outcome;
    }

    /// `orgs` organizations failed for a transient reason and are tried
    /// again after `pause`.
    fn retrying(&mut self, orgs: usize, pause: Duration) {
        let _ = (orgs, pause);
    }
}

impl Progress for () {}

/// Runs one sync of `tenant`, telling `progress` as it goes.
pub async fn sync_tenant(
    store: &Store,
    runtime: Arc<Runtime>,
    tenant: &str,
    options: &SyncOptions,
    progress: &mut impl Progress,
) -> Result<SyncSummary, SyncError> {
    let stored = store
        .connection(tenant)?
        .ok_or_else(|| SyncError::NotConnected(tenant.to_string()))?;
    let policy = connection::network_policy(&runtime, &stored, false).await?;
    let description = Arc::new(runtime.describe().await?);
    // The tenant's lock, and its PSA site's: one seatsync at a time talks
    // to a site (whatever the process or machine), so the site sees the
    // pacing of one runtime.
    let site_lock = site_lock_name(&policy.site_key());
    let mut lock = store.lock_all(&[&sync_lock_name(tenant), &site_lock])?;
    // Every write to the store from here checks the locks still stand.
    let _fenced = store.fence(lock.fence());
    if let Some(slot) = options.slot
        && store
            .last_completed_run_start(tenant)?
            .is_some_and(|last| last >= slot)
    {
        return Err(SyncError::AlreadySynced {
            tenant: tenant.to_owned(),
            slot,
        });
    }
    let interrupted = store.recover_interrupted_runs(&lock)?;
    if !interrupted.is_empty() {
        tracing::warn!(
            runs = ?interrupted.iter().map(|r| r.0).collect::<Vec<_>>(),
            "earlier runs were interrupted; this run reads the PSA again, so nothing is written twice"
        );
    }

    let mut plans = store.sync_plan(tenant)?;
    let shared = shared_agreements(&plans);
    if !options.orgs.is_empty() {
        let unknown: Vec<String> = options
            .orgs
            .iter()
            .filter(|o| !plans.iter().any(|p| &p.org_id == *o))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(SyncError::UnknownOrgs(unknown));
        }
        plans.retain(|p| options.orgs.contains(&p.org_id));
    }
    // What the run asks before it writes (a dry run writes nothing), and
    // when the lines it creates start billing.
    let rules = store.approval_rules(tenant)?;
    let start_date = options
        .start_date
        .unwrap_or_else(|| plans::start_date(rules.effective_date, options.effective_date));
    let gate = match (&options.gate, options.dry_run) {
        (_, true) | (Gate::None, false) => RunGate::None,
        (Gate::Rules, false) => {
            if rules.holds_nothing() {
                RunGate::None
            } else {
                RunGate::Rules(rules)
            }
        }
        (Gate::Plan(approved), false) => RunGate::Plan(approved.clone()),
    };
    // Applying a plan: only its approved lines, at the quantities
    // approved; an approved line the mappings no longer match is changed
    // since review, and not sent.
    let mut pre_withheld: HashMap<String, Vec<WithheldLine>> = HashMap::new();
    if let RunGate::Plan(approved) = &gate {
        plans.retain(|p| approved.lines.contains_key(&p.org_id));
        for plan in &mut plans {
            if let Some(lines) = approved.lines.get(&plan.org_id) {
                let changed = restrict_to_approved(plan, lines);
                if !changed.is_empty() {
                    pre_withheld.insert(plan.org_id.clone(), changed);
                }
            }
        }
    }
    if plans.is_empty() {
        return Ok(SyncSummary {
            run: None,
            orgs: Vec::new(),
            check_requests: 0,
            connector: description,
            tenant: tenant.to_string(),
            held_in: None,
            start_date,
        });
    }
    let data_types = store.data_types(tenant)?;
    let secrets = Arc::new(Secrets::of(&stored.settings, &description, &policy));
    let settings = Arc::new(stored.settings);
    let site = policy.describe_endpoints();
    let policy = Arc::new(policy);

    let scope = if options.orgs.is_empty() {
        RunScope::Every
    } else {
        RunScope::Some
    };
    let run = store.begin_run(&lock, tenant, options.trigger, scope, options.dry_run)?;
    // A plan is applied once: marked so by this run, under its lock,
    // before its first request.
    if let RunGate::Plan(approved) = &gate
        && let Err(error) = store.claim_plan(tenant, approved.id, Some(run), &options.actor)
    {
        store.finish_run(run, Some(&error.to_string()))?;
        return Err(error.into());
    }
    progress.planned(plans.len());
    let mut outcomes = Vec::with_capacity(plans.len());
    let (plans, sharing): (Vec<OrgPlan>, Vec<OrgPlan>) = plans
        .into_iter()
        .partition(|p| !shared.contains_key(&p.agreement_id));
    let mut refused: Vec<OrgOutcome> = sharing
        .into_iter()
        .map(|plan| {
            let orgs = shared.get(&plan.agreement_id).map(|o| o.join(", ")).unwrap_or_default();
            let message = format!(
                "agreement {} is mapped to several organizations ({orgs}): their counts would overwrite each \
                 other, so none of them is synced; map each organization to its own agreement with `seatsync map org`",
                plan.agreement_id
            );
            failed_before_sending(plan, message)
        })
        .collect();
    let (plans, checked, check_requests) =
        check_agreements(&runtime, &policy, &settings, &secrets, &description, plans).await;
    lock.heartbeat()?;
    refused.extend(checked);
    history::record(store, run, &refused, &options.actor)?;
    for outcome in refused {
        progress.finished(&outcome);
        outcomes.push(outcome);
    }
    // Writes an earlier run left without an answer, by organization: those
    // organizations wait for them to settle ([`Pass::waiting_for`]). A dry
    // run writes nothing, so it neither waits nor journals.
    let mut unresolved: HashMap<String, Vec<JournalEntry>> = HashMap::new();
    let journal = if options.dry_run {
        None
    } else {
        for entry in store.unresolved_writes(tenant)? {
            unresolved
                .entry(entry.org_id.clone())
                .or_default()
                .push(entry);
        }
        Some(Arc::new(JournalSink {
            store: Mutex::new(store.reopen()?),
            tenant: tenant.to_string(),
            site,
            run,
            settle_window: options.settle_window,
        }))
    };
    let pass = Pass {
        store,
        runtime: &runtime,
        policy: &policy,
        settings: &settings,
        secrets: &secrets,
        data_types,
        options,
        run,
        journal,
        unresolved,
        tenant,
        connector: &description,
        gate,
        pre_withheld,
        start_date,
    };
    let mut retry = Vec::new();
    pass.run(plans, 1, &mut lock, &mut |outcome| {
        if options.retry_pause.is_some() && outcome.transient {
            retry.push(outcome.plan.clone());
        }
        progress.finished(&outcome);
        outcomes.push(outcome);
    })
    .await?;
    if let (Some(pause), false) = (options.retry_pause, retry.is_empty()) {
        tracing::warn!(
            orgs = retry.len(),
            pause_s = pause.as_secs_f64(),
            "organizations failed for a transient reason; trying them again after a pause"
        );
        progress.retrying(retry.len(), pause);
        wait_holding(&mut lock, pause).await?;
        pass.run(retry, 2, &mut lock, &mut |outcome| {
            progress.finished(&outcome);
            match outcomes
                .iter_mut()
                .find(|o| o.plan.org_id == outcome.plan.org_id)
            {
                Some(earlier) => *earlier = outcome,
                None => outcomes.push(outcome),
            }
        })
        .await?;
    }
    // The daemon runs once a day: its instances need not wait for it.
    runtime.drop_idle_instances();
    let record = store.finish_run(run, None)?;
    Ok(SyncSummary {
        held_in: store.plan_of_run(run)?,
        run: Some(record),
        orgs: outcomes,
        check_requests,
        connector: description,
        tenant: tenant.to_string(),
        start_date,
    })
}

/// What every organization of one run shares.
struct Pass<'a> {
    store: &'a Store,
    runtime: &'a Arc<Runtime>,
    policy: &'a Arc<NetworkPolicy>,
    settings: &'a Arc<Settings>,
    secrets: &'a Arc<Secrets>,
    data_types: DataTypes,
    options: &'a SyncOptions,
    run: RunId,
    /// Where the run's writes are journaled (`None` for a dry run).
    journal: Option<Arc<JournalSink>>,
    /// Writes earlier runs left without an answer, by organization.
    unresolved: HashMap<String, Vec<JournalEntry>>,
    /// The tenant synced.
    tenant: &'a str,
    /// The connector's description, for what conflicts are called.
    connector: &'a ConnectorDescription,
    /// What each organization's call asks before it writes.
    gate: RunGate,
    /// Approved lines of a plan being applied that the mappings no longer
    /// match, by organization: recorded as changed since review.
    pre_withheld: HashMap<String, Vec<WithheldLine>>,
    /// The day created lines start billing.
    start_date: NaiveDate,
}

/// [`Gate`] as a run resolved it.
#[derive(Debug, Clone)]
enum RunGate {
    /// Call the connector once, as asked.
    None,
    /// Read first; hold what these rules do not let through.
    Rules(ApprovalRules),
    /// Read first; send only approved lines the PSA still shows as the
    /// review saw them.
    Plan(Arc<ApprovedPlan>),
}

/// Keeps only `plan`'s lines that `approved` (by package) approves, at the
/// approved quantities; returns the approved lines the organization's
/// mapping no longer matches (another product, company or agreement; the
/// package disabled, unmapped or without usage), as changed since review.
fn restrict_to_approved(
    plan: &mut OrgPlan,
    approved: &HashMap<String, NewPlanLine>,
) -> Vec<WithheldLine> {
    let changed = |line: &NewPlanLine, why: &str| WithheldLine {
        line: line.clone(),
        kind: Withheld::Changed,
        message: format!("changed since review: {why}"),
    };
    let (company, agreement) = (plan.company_id, plan.agreement_id);
    let mut withheld = Vec::new();
    plan.lines
        .retain_mut(|line| match approved.get(&line.package_key) {
            None => false,
            Some(a) if a.product_id != line.product_id => {
                withheld.push(changed(a, "the package is mapped to another product now"));
                false
            }
            Some(a) if (a.company_id, a.agreement_id) != (company, agreement) => {
                withheld.push(changed(
                    a,
                    "the organization is mapped to another company or contract now",
                ));
                false
            }
            Some(a) => {
                line.quantity = a.new_quantity;
                true
            }
        });
    let mut missing: Vec<&NewPlanLine> = approved
        .values()
        .filter(|a| {
            !plan.lines.iter().any(|l| l.package_key == a.package_key)
                && !withheld.iter().any(|w| w.line.package_key == a.package_key)
        })
        .collect();
    missing.sort_by(|a, b| a.package_key.cmp(&b.package_key));
    for a in missing {
        withheld.push(changed(
            a,
            "the package is no longer enabled and mapped for this organization, or has no usage",
        ));
    }
    withheld
}

/// One organization's call through `gate`: the call (or the read, when
/// nothing is left to write) and the lines withheld from it.
///
/// Without a gate this is one `sync-organization` call. With one, a dry
/// run reads first: each line it reports is checked (held by the rules, or
/// changed since the plan's review), and only the others are sent, in a
/// second call that reads again before writing. The PSA may change between
/// the two reads; the window is the same as the connector's own between
/// its read and its write. When nothing is left to write, the read is the
/// organization's result (one request, as without a gate).
#[allow(clippy::too_many_arguments)]
async fn gated_call(
    runtime: &Runtime,
    policy: &NetworkPolicy,
    settings: &Settings,
    plan: &OrgPlan,
    mut request: SyncRequest,
    journal: Option<Arc<dyn WriteJournal>>,
    gate: &RunGate,
    line_noun: &str,
) -> (
    Result<Call<Result<SyncReport, ConnectorError>>, CallFailed>,
    Vec<WithheldLine>,
) {
    if let RunGate::None = gate {
        let call = runtime
            .sync_organization_journaled(policy, settings, &request, journal)
            .await;
        return (call, Vec::new());
    }
    if request.lines.is_empty() {
        // Every approved line of the organization was withheld already.
        let report = SyncReport {
            company_id: request.company_id,
            contract_id: request.contract_id,
            dry_run: false,
            lines: Vec::new(),
            requests: 0,
            writes: 0,
        };
        return (Ok(Call::without_requests(Ok(report))), Vec::new());
    }
    let read = SyncRequest {
        dry_run: true,
        ..request.clone()
    };
    let read = match runtime.sync_organization(policy, settings, &read).await {
        Ok(call) => call,
        Err(failed) => return (Err(failed), Vec::new()),
    };
    let Ok(report) = &read.value else {
        return (Ok(read), Vec::new());
    };
    let mut withheld = Vec::new();
    for result in &report.lines {
        let seen = plans::plan_line(plan, result);
        let verdict = match gate {
            RunGate::None => None,
            RunGate::Rules(rules) => plans::hold_reason(rules, &seen).map(|m| (Withheld::Held, m)),
            RunGate::Plan(approved) => approved
                .lines
                .get(&plan.org_id)
                .and_then(|lines| lines.get(&result.package_key))
                .and_then(|reviewed| plans::changed_since_review(reviewed, &seen, line_noun))
                .map(|m| (Withheld::Changed, m)),
        };
        if let Some((kind, message)) = verdict {
            withheld.push(WithheldLine {
                line: seen,
                kind,
                message,
            });
        }
    }
    let kept = |package: &str| !withheld.iter().any(|w| w.line.package_key == package);
    let writes_left = report.lines.iter().any(|l| {
        kept(&l.package_key)
            && matches!(
                l.outcome,
                LineOutcome::Created | LineOutcome::Updated { .. }
            )
    });
    if !writes_left {
        let call = read.map(|value| {
            value.map(|mut report| {
                report.lines.retain(|l| kept(&l.package_key));
                report.dry_run = false;
                report
            })
        });
        return (Ok(call), withheld);
    }
    request.lines.retain(|l| kept(&l.package_key));
    let call = runtime
        .sync_organization_journaled(policy, settings, &request, journal)
        .await;
    // The read's requests were sent too: the host counts them.
    let call = match call {
        Ok(mut call) => {
            call.requests += read.requests;
            Ok(call)
        }
        Err(mut failed) => {
            failed.requests += read.requests;
            Err(failed)
        }
    };
    (call, withheld)
}

/// The run's write journal: a connection of its own to the store, shared
/// by the calls of the run ([`OrgJournal`]).
struct JournalSink {
    store: Mutex<Store>,
    tenant: String,
    site: String,
    run: RunId,
    settle_window: Duration,
}

/// One organization's call's view of the run's journal.
struct OrgJournal {
    sink: Arc<JournalSink>,
    org_id: String,
}

impl WriteJournal for OrgJournal {
    fn record(&self, write: &JournalWrite) -> Result<i64, String> {
        let sink = &self.sink;
        let store = sink.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .record_write(&NewWrite {
                tenant: &sink.tenant,
                site: &sink.site,
                run: Some(sink.run),
                org_id: &self.org_id,
                method: &write.method,
                url: &write.url,
                body_sha256: &write.body_sha256,
                settle_window: sink.settle_window,
            })
            .map_err(|e| e.to_string())
    }
}

impl Pass<'_> {
    /// The conflicts of `outcome`'s report that are duplicates seatsync
    /// created. A journal that cannot be read leaves them plain conflicts
    /// (logged): the lines are recorded either way, and nothing is written
    /// to a conflict.
    fn duplicates_in(&self, outcome: &OrgOutcome) -> Vec<LineDuplicate> {
        let Ok(report) = &outcome.result else {
            return Vec::new();
        };
        resolve::duplicates_in_report(self.store, self.tenant, self.connector, report)
            .unwrap_or_else(|error| {
                tracing::warn!(%error, org = %outcome.plan.org_id, "could not tell whether a conflict is a duplicate seatsync created");
                Vec::new()
            })
    }

    /// The earlier writes `plan`'s organization must wait for (their
    /// settle window has not passed), and those whose window has passed,
    /// which its call settles by reading before it writes.
    fn waiting_for(&self, plan: &OrgPlan) -> (Vec<&JournalEntry>, Vec<&JournalEntry>) {
        let now = self.store.now();
        self.unresolved
            .get(&plan.org_id)
            .map(|entries| entries.iter().partition(|e| e.settle_until > now))
            .unwrap_or_default()
    }
}

impl Pass<'_> {
    /// Syncs `plans`, several at once, committing the outcomes in batches
    /// as they arrive (as attempt `attempt`, [`history::Batch`]) and then
    /// handing each to `finished`; renews the lock meanwhile.
    async fn run(
        &self,
        plans: Vec<OrgPlan>,
        attempt: u32,
        lock: &mut LockGuard,
        finished: &mut dyn FnMut(OrgOutcome),
    ) -> Result<(), SyncError> {
        // One timer renews the lock, whether organizations finish quickly
        // or a call takes minutes: a lock gone stale lets another process
        // sync the same organizations. A heartbeat is a durable commit, so
        // not per organization.
        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + HEARTBEAT_EVERY,
            HEARTBEAT_EVERY,
        );
        let mut in_flight = JoinSet::new();
        let mut pending = plans.into_iter();
        // Outcomes not yet committed: every way out of the loop commits
        // them first, since their writes happened.
        let mut batch = history::Batch::default();
        let actor = self.options.actor.as_str();
        loop {
            while in_flight.len() < self.options.concurrency.max(1) {
                let Some(plan) = pending.next() else { break };
                let (wait, settle) = self.waiting_for(&plan);
                if !wait.is_empty() {
                    let mut outcome = waiting_outcome(plan, &wait);
                    outcome.attempt = attempt;
                    batch.push(outcome);
                    continue;
                }
                let settled: Vec<i64> = settle.iter().map(|e| e.id).collect();
                let request = plan.to_request(
                    self.data_types,
                    self.options.dry_run,
                    self.options.effective_date,
                    self.start_date,
                );
                let (runtime, policy, settings) = (
                    self.runtime.clone(),
                    self.policy.clone(),
                    self.settings.clone(),
                );
                let journal = self.journal.as_ref().map(|sink| {
                    Arc::new(OrgJournal {
                        sink: sink.clone(),
                        org_id: plan.org_id.clone(),
                    }) as Arc<dyn WriteJournal>
                });
                let gate = self.gate.clone();
                let line_noun = self.connector.line_noun.clone();
                in_flight.spawn(async move {
                    let (call, withheld) = gated_call(
                        &runtime, &policy, &settings, &plan, request, journal, &gate, &line_noun,
                    )
                    .await;
                    (plan, call, settled, withheld)
                });
            }
            if batch.is_due() {
                batch.commit(self.store, self.run, actor, finished)?;
            }
            let deadline = batch.deadline();
            let joined = tokio::select! {
                joined = in_flight.join_next() => joined,
                _ = heartbeat.tick() => {
                    batch.commit(self.store, self.run, actor, finished)?;
                    // Losing the lock (an error here) stops the run rather
                    // than race another process.
                    lock.heartbeat()?;
                    continue;
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if deadline.is_some() =>
                {
                    batch.commit(self.store, self.run, actor, finished)?;
                    continue;
                }
            };
            let Some(joined) = joined else {
                batch.commit(self.store, self.run, actor, finished)?;
                return Ok(());
            };
            let mut outcome = match joined {
                Ok((plan, call, settled, withheld)) => {
                    let mut outcome = outcome_of(plan, call, self.secrets, &settled);
                    if let Some(changed) = self.pre_withheld.get(&outcome.plan.org_id) {
                        outcome.withheld.extend(changed.iter().cloned());
                    }
                    outcome.withheld.extend(withheld);
                    outcome
                }
                // A panic in the host's own task: there is no plan to
                // blame, so the run fails as a whole (history keeps what
                // finished).
                Err(join_error) => {
                    batch.commit(self.store, self.run, actor, finished)?;
                    let message = format!("a sync task failed: {join_error}");
                    self.store.finish_run(self.run, Some(&message))?;
                    return Err(SyncError::Store(StoreError::InvalidInput(message)));
                }
            };
            outcome.attempt = attempt;
            outcome.duplicates = self.duplicates_in(&outcome);
            batch.push(outcome);
        }
    }
}

/// The outcome of an organization that waits for earlier writes to settle.
fn waiting_outcome(plan: OrgPlan, wait: &[&JournalEntry]) -> OrgOutcome {
    let until = wait
        .iter()
        .map(|e| e.settle_until)
        .max()
        .unwrap_or_default();
    let writes = wait
        .iter()
        .map(|e| {
            format!(
                "{} {} at {}",
                e.method,
                e.url,
                e.recorded_at.format("%Y-%m-%d %H:%M:%S UTC")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let message = format!(
        "waiting for an earlier write that got no answer to settle ({writes}): the PSA may still apply it \
         until {}, so nothing is written for this organization before then; a run after that reads first and \
         finishes the job",
        until.format("%Y-%m-%d %H:%M:%S UTC")
    );
    OrgOutcome {
        plan,
        result: Err(message.clone()),
        requests: 0,
        writes: 0,
        elapsed: Duration::ZERO,
        // Picked up by the end-of-run and same-day retries.
        transient: true,
        attempt: 1,
        waiting: Some(message),
        journal: Vec::new(),
        duplicates: Vec::new(),
        withheld: Vec::new(),
        auth_failed: false,
    }
}

/// What a call's exchanges say of its journaled writes: each answered or
/// not. A write whose request was cut off with its call has no exchange and
/// stays `sent`. The additions the report says were created are matched to
/// the successful POSTs in order (the connector sends them line by line),
/// so a later conflict between two of them can be told apart.
fn write_resolutions(exchanges: &[Exchange], report: Option<&SyncReport>) -> Vec<WriteResolution> {
    let mut created = report
        .map(|r| {
            r.lines
                .iter()
                .filter(|l| matches!(l.outcome, LineOutcome::Created))
                .filter_map(|l| l.line_id)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter();
    exchanges
        .iter()
        .filter_map(|x| {
            let entry = x.journal_entry?;
            Some(match x.status {
                Some(status) => WriteResolution {
                    entry,
                    state: WriteState::Answered,
                    status: Some(status),
                    error: None,
                    created_id: (x.method == "POST" && (200..300).contains(&status))
                        .then(|| created.next())
                        .flatten(),
                },
                None => WriteResolution {
                    entry,
                    state: WriteState::Unanswered,
                    status: None,
                    error: x.error.clone(),
                    created_id: None,
                },
            })
        })
        .collect()
}

/// Earlier unanswered writes a call settled: it read the PSA after their
/// window passed and decided from what it saw.
fn settled(entries: &[i64]) -> impl Iterator<Item = WriteResolution> + '_ {
    entries.iter().map(|&entry| WriteResolution {
        entry,
        state: WriteState::Settled,
        status: None,
        error: None,
        created_id: None,
    })
}

/// An organization's outcome from its call; `waited` are earlier writes
/// whose window had passed, settled if the call got as far as a report.
fn outcome_of(
    plan: OrgPlan,
    call: Result<Call<Result<SyncReport, ConnectorError>>, CallFailed>,
    secrets: &Secrets,
    waited: &[i64],
) -> OrgOutcome {
    match call {
        Ok(call) => {
            let auth_failed = matches!(
                &call.value,
                Err(ConnectorError::Unauthorized(_) | ConnectorError::Forbidden { .. })
            );
            OrgOutcome {
                waiting: None,
                journal: {
                    let report = call.value.as_ref().ok();
                    let mut writes = write_resolutions(&call.exchanges, report);
                    if let Some(report) = report {
                        // A write of this call left without an answer was
                        // confirmed by the connector's own read-back when it
                        // reported every line done (it fails a line whose
                        // write it could not confirm).
                        if !report
                            .lines
                            .iter()
                            .any(|l| matches!(l.outcome, LineOutcome::Failed(_)))
                        {
                            for w in &mut writes {
                                if w.state == WriteState::Unanswered {
                                    w.state = WriteState::Settled;
                                }
                            }
                        }
                        writes.extend(settled(waited));
                    }
                    writes
                },
                plan,
                transient: match &call.value {
                    Ok(report) => report_is_transient(report),
                    Err(error) => is_transient(error),
                },
                // What ConnectWise said ends up in reports and history: a key
                // it echoed back must not. History keeps the host's own counts:
                // a component cannot be trusted to report what it sent.
                result: call
                    .value
                    .map(|report| SyncReport {
                        requests: call.requests,
                        writes: call.writes,
                        ..redact_report(report, secrets)
                    })
                    .map_err(|e| secrets.redact(&e.to_string())),
                requests: call.requests,
                writes: call.writes,
                elapsed: call.elapsed,
                attempt: 1,
                duplicates: Vec::new(),
                withheld: Vec::new(),
                auth_failed,
            }
        }
        // Stopped part-way (a trap, a limit): what it sent still counts. A
        // component that broke a limit once will break it again.
        Err(failed) => OrgOutcome {
            plan,
            result: Err(secrets.redact(&failed.error.to_string())),
            requests: failed.requests,
            writes: failed.writes,
            elapsed: Duration::ZERO,
            transient: false,
            attempt: 1,
            waiting: None,
            journal: write_resolutions(&failed.exchanges, None),
            duplicates: Vec::new(),
            withheld: Vec::new(),
            auth_failed: false,
        },
    }
}

/// Waits `pause`, renewing the lock meanwhile.
async fn wait_holding(lock: &mut LockGuard, pause: Duration) -> Result<(), StoreError> {
    let until = tokio::time::Instant::now() + pause;
    loop {
        let now = tokio::time::Instant::now();
        if now >= until {
            return Ok(());
        }
        tokio::time::sleep((until - now).min(HEARTBEAT_EVERY)).await;
        lock.heartbeat()?;
    }
}

/// Agreements that more than one enabled, mapped organization points at,
/// with those organizations. Syncing them would make the organizations race
/// to create the same addition and overwrite each other's counts daily.
fn shared_agreements(plans: &[OrgPlan]) -> HashMap<RecordId, Vec<String>> {
    let mut by_agreement: HashMap<RecordId, Vec<String>> = HashMap::new();
    for plan in plans {
        by_agreement
            .entry(plan.agreement_id)
            .or_default()
            .push(plan.org_id.clone());
    }
    by_agreement.retain(|_, orgs| orgs.len() > 1);
    by_agreement
}

/// An organization that fails before anything is sent for it.
fn failed_before_sending(plan: OrgPlan, message: String) -> OrgOutcome {
    OrgOutcome {
        plan,
        result: Err(message),
        requests: 0,
        writes: 0,
        elapsed: Duration::ZERO,
        transient: false,
        attempt: 1,
        waiting: None,
        journal: Vec::new(),
        duplicates: Vec::new(),
        withheld: Vec::new(),
        auth_failed: false,
    }
}

/// How often a run renews its lock while organizations finish.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Splits `plans` into those whose agreement is still usable and failures
/// for those whose agreement was deleted, cancelled or moved to another
/// company since it was mapped; also returns the requests the check sent.
///
/// The connector reads only additions (one request per organization), so
/// it cannot see the agreement itself; one list of the tenant's agreements
/// per run (a request per 1,000 agreements) lets the host refuse to write
/// to an agreement that no longer bills. If the list cannot be read, every
/// plan goes ahead: the check is a guard, and the connector still never
/// writes twice.
async fn check_agreements(
    runtime: &Runtime,
    policy: &NetworkPolicy,
    settings: &Settings,
    secrets: &Secrets,
    description: &ConnectorDescription,
    plans: Vec<OrgPlan>,
) -> (Vec<OrgPlan>, Vec<OrgOutcome>, u32) {
    let (noun, psa) = (&description.contract_noun, &description.psa);
    let call = match runtime.list_contracts(policy, settings, None).await {
        Ok(call) => call,
        Err(error) => {
            tracing::warn!(%error, "could not list the agreements to check the mappings; syncing without the check");
            return (plans, Vec::new(), 0);
        }
    };
    let requests = call.requests;
    let agreements = match call.value {
        Ok(agreements) => agreements,
        Err(error) => {
            let error = secrets.redact(&error.to_string());
            tracing::warn!(%error, "could not list the agreements to check the mappings; syncing without the check");
            return (plans, Vec::new(), requests);
        }
    };
    let by_id: HashMap<RecordId, &Contract> = agreements.iter().map(|a| (a.id, a)).collect();
    let mut usable = Vec::with_capacity(plans.len());
    let mut rejected = Vec::new();
    for plan in plans {
        let problem = match by_id.get(&plan.agreement_id) {
            None => Some(format!(
                "{noun} {} no longer exists in {psa} (deleted since it was mapped): map the organization \
                 to another {noun} with `seatsync map org {} --company {} --agreement ID`, or disable it",
                plan.agreement_id, plan.org_id, plan.company_id
            )),
            Some(a) if a.cancelled => Some(format!(
                "{noun} {} ({}) is cancelled in {psa}, so nothing was written to it: map the organization \
                 to an active {noun} with `seatsync map org {} --company {} --agreement ID`, or disable it",
                a.id, a.name, plan.org_id, plan.company_id
            )),
            Some(a) if a.company_id != plan.company_id => Some(format!(
                "{noun} {} ({}) now belongs to company {}, not {}: check the mapping with `seatsync agreements \
                 --company {}` and map the organization again",
                a.id, a.name, a.company_id, plan.company_id, plan.company_id
            )),
            Some(_) => None,
        };
        match problem {
            None => usable.push(plan),
            Some(message) => rejected.push(failed_before_sending(plan, message)),
        }
    }
    (usable, rejected, requests)
}

/// The report with the connection's secrets redacted from every message in
/// it.
fn redact_report(mut report: SyncReport, secrets: &Secrets) -> SyncReport {
    for line in &mut report.lines {
        line.outcome = match std::mem::replace(&mut line.outcome, LineOutcome::Unchanged) {
            LineOutcome::Skipped(reason) => LineOutcome::Skipped(secrets.redact(&reason)),
            LineOutcome::Failed(error) => {
                LineOutcome::Failed(error.map_text(|t| secrets.redact(t)))
            }
            other => other,
        };
    }
    report
}
