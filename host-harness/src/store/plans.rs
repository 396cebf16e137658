//! Review before billing, as stored: plans of lines a person approves, the
//! decisions on them, and each tenant's approval rules.
//!
//! A plan is created whole, in one transaction, by `seatsync review` (a dry
//! run of every organization), or line by line by a sync that held lines
//! its tenant's rules do not let it apply by itself: each organization's
//! held lines go into the run's plan in the same transaction as its result
//! ([`Store::record_org_attempt`]), so a killed run leaves a plan of what
//! it held and nothing else.
//!
//! A plan is applied at most once: [`Store::claim_plan`] marks it applied
//! when the run that writes it begins, inside that run's lock, before the
//! first request. A crash afterwards leaves the plan applied with the run
//! interrupted; the next review or sync reads the PSA again.
//!
//! A usage import expires the tenant's pending plans, in its own
//! transaction (`Store::replace_usage`); otherwise whether a plan is
//! pending or expired follows from the time ([`PlanRecord::status`]), so it
//! can never be out of date.

use std::fmt;

use super::db::{Conn, DbError, OptionalExtension, Row, params};
use chrono::{DateTime, Duration as TimeDelta, Utc};
use seatsync_contract::RecordId;

use super::{RunId, Store, StoreError, Ts, check_tenant};

/// A plan's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlanId(pub i64);

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which changes a sync applies without a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoApprove {
    /// Every change (seatsync's behaviour before review existed).
    All,
    /// Increases and new lines; decreases wait for a person.
    Increases,
    /// Nothing: every change waits for a person.
    None,
}
text_enum!(AutoApprove {
    All => "all",
    Increases => "increases",
    None => "none",
});

/// When a line a sync creates starts billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectiveDate {
    /// The day of the sync.
    Today,
    /// The first day of the month after the sync (billing in advance).
    NextMonth,
}
text_enum!(EffectiveDate {
    Today => "today",
    NextMonth => "next-month",
});

/// A tenant's approval rules: what a sync (manual or daily) applies by
/// itself, and what it holds in a plan for a person; and when the lines it
/// creates start billing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApprovalRules {
    /// The changes applied without a person, unless a hold below catches
    /// them.
    pub auto_approve: AutoApprove,
    /// Hold a decrease larger than this many percent.
    pub hold_decrease_over: Option<f64>,
    /// Hold an increase larger than this many percent.
    pub hold_increase_over: Option<f64>,
    /// Hold every line that would be created.
    pub hold_new_lines: bool,
    /// Days after which a plan can no longer be applied.
    pub plan_expiry_days: u32,
    /// When created lines start billing (quantity updates are unaffected).
    pub effective_date: EffectiveDate,
}

/// How long a plan stays applicable unless the rules say otherwise.
pub const DEFAULT_PLAN_EXPIRY_DAYS: u32 = 7;

impl Default for ApprovalRules {
    /// Apply everything, hold nothing: a sync does what it did before
    /// review existed.
    fn default() -> Self {
        ApprovalRules {
            auto_approve: AutoApprove::All,
            hold_decrease_over: None,
            hold_increase_over: None,
            hold_new_lines: false,
            plan_expiry_days: DEFAULT_PLAN_EXPIRY_DAYS,
            effective_date: EffectiveDate::Today,
        }
    }
}

impl ApprovalRules {
    /// Whether these rules can hold anything at all; when they cannot, a
    /// sync need not read before deciding (one request per organization).
    pub fn holds_nothing(&self) -> bool {
        self.auto_approve == AutoApprove::All
            && self.hold_decrease_over.is_none()
            && self.hold_increase_over.is_none()
            && !self.hold_new_lines
    }
}

/// What a plan line would do to the PSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanAction {
    /// Create a line.
    Create,
    /// Change a line's quantity.
    Update,
    /// Nothing: the line already has the quantity.
    Unchanged,
    /// Nothing: several active lines for the product need a person.
    Conflict,
    /// Nothing: not attempted (a data type is switched off, …).
    Skipped,
    /// Nothing: the read for it failed.
    Failed,
}
text_enum!(PlanAction {
    Create => "create",
    Update => "update",
    Unchanged => "unchanged",
    Conflict => "conflict",
    Skipped => "skipped",
    Failed => "failed",
});

impl PlanAction {
    /// Whether applying the line writes to the PSA.
    pub fn writes(self) -> bool {
        matches!(self, PlanAction::Create | PlanAction::Update)
    }
}

/// A person's decision on a plan line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineDecision {
    /// Not decided: `apply` does not write it.
    Pending,
    /// Approved: `apply` writes it if the PSA still shows what the plan saw.
    Approved,
    /// Rejected: never written.
    Rejected,
}
text_enum!(LineDecision {
    Pending => "pending",
    Approved => "approved",
    Rejected => "rejected",
});

/// What applying a plan did with one of its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyResult {
    /// Written as approved.
    Written,
    /// Not written: the PSA no longer showed what the plan saw (or the
    /// mapping changed); the next review picks it up.
    Changed,
    /// Not written: already at the approved quantity.
    Unchanged,
    /// The write, or the organization, failed.
    Failed,
    /// Not written: not approved.
    NotApproved,
}
text_enum!(ApplyResult {
    Written => "written",
    Changed => "changed-since-review",
    Unchanged => "unchanged",
    Failed => "failed",
    NotApproved => "not-approved",
});

/// Where a plan came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanSource {
    /// `seatsync review`: every line of a dry run.
    Review,
    /// A sync (manual or daily): the lines its rules held.
    Sync,
}
text_enum!(PlanSource {
    Review => "review",
    Sync => "sync",
});

/// Where a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStatus {
    /// Can be decided on and applied.
    Pending,
    /// Applied (or being applied): never again.
    Applied,
    /// Too old, or newer usage was imported since: cannot be applied.
    Expired,
}
text_enum!(PlanStatus {
    Pending => "pending",
    Applied => "applied",
    Expired => "expired",
});

/// What happened to a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanEventKind {
    /// The plan was created.
    Created,
    /// A person approved lines.
    Approved,
    /// A person rejected lines.
    Rejected,
    /// A person applied it.
    Applied,
}
text_enum!(PlanEventKind {
    Created => "created",
    Approved => "approved",
    Rejected => "rejected",
    Applied => "applied",
});

/// One line of a plan as the review (or the sync that held it) saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlanLine {
    /// The vendor organization.
    pub org_id: String,
    /// Its name.
    pub org_name: String,
    /// The company it is mapped to.
    pub company_id: RecordId,
    /// The contract (agreement) it is mapped to.
    pub agreement_id: RecordId,
    /// The package.
    pub package_key: String,
    /// The product it is mapped to.
    pub product_id: RecordId,
    /// The quantity the PSA had (`None`: no line yet).
    pub current_quantity: Option<f64>,
    /// The quantity the line is to have.
    pub new_quantity: u32,
    /// What applying it would do.
    pub action: PlanAction,
    /// The PSA's line (addition) concerned, when there is exactly one.
    pub line_id: Option<RecordId>,
    /// The line's unit price, when the PSA reported it.
    pub unit_price: Option<f64>,
    /// Why nothing would be done (conflict, skipped, failed), or why the
    /// line was held.
    pub message: Option<String>,
}

/// A stored plan line, with the decision on it and what applying did.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanLine {
    /// The line as seen.
    pub line: NewPlanLine,
    /// The decision on it.
    pub decision: LineDecision,
    /// What applying the plan did with it (`None` before).
    pub result: Option<ApplyResult>,
    /// Why, for a line not written.
    pub result_message: Option<String>,
}

/// How many lines of a plan stand where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanCounts {
    /// Lines in all.
    pub lines: u32,
    /// Lines that would write (create or update).
    pub changes: u32,
    /// Of those, not decided.
    pub pending: u32,
    /// Of those, approved.
    pub approved: u32,
    /// Of those, rejected.
    pub rejected: u32,
}

/// A stored plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRecord {
    /// Its id.
    pub id: PlanId,
    /// The tenant.
    pub tenant: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it (a user name, or `daemon`).
    pub created_by: String,
    /// Where it came from.
    pub source: PlanSource,
    /// The run that saw its lines (the review's dry run, or the sync that
    /// held them).
    pub run: Option<RunId>,
    /// After this it cannot be applied.
    pub expires_at: DateTime<Utc>,
    /// When newer usage was imported, which expired it.
    pub superseded_at: Option<DateTime<Utc>>,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
    /// The run that applied it.
    pub applied_run: Option<RunId>,
    /// Where it stands now.
    pub status: PlanStatus,
    /// Why it expired, when it did.
    pub expired_because: Option<String>,
    /// Its lines' counts.
    pub counts: PlanCounts,
}

/// A decision or other event on a plan, for history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEvent {
    /// The plan.
    pub plan: PlanId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub kind: PlanEventKind,
    /// The lines concerned (`ORG:PACKAGE, …`) or other detail.
    pub detail: String,
}

/// A line withheld from the connector by the host, recorded in a run's
/// history beside the connector's own lines.
#[derive(Debug, Clone, PartialEq)]
pub struct WithheldLine {
    /// The line as the run's read saw it.
    pub line: NewPlanLine,
    /// Held for a person, or changed since review.
    pub kind: Withheld,
    /// Why, for history (names the plan and the rule, or what changed).
    pub message: String,
}

/// Why a line was withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// The tenant's rules hold it: it goes into the run's plan.
    Held,
    /// Applying a plan, the PSA no longer showed what the review saw.
    Changed,
}

const PLAN_COLUMNS: &str = "p.id, p.tenant, p.created_at, p.created_by, p.source, p.run_id,
    p.expires_at, p.superseded_at, p.applied_at, p.applied_run_id,
    (SELECT count(*) FROM plan_lines l WHERE l.plan_id = p.id),
    (SELECT count(*) FROM plan_lines l WHERE l.plan_id = p.id AND l.action IN ('create', 'update')),
    (SELECT count(*) FROM plan_lines l WHERE l.plan_id = p.id AND l.action IN ('create', 'update')
        AND l.decision = 'pending'),
    (SELECT count(*) FROM plan_lines l WHERE l.plan_id = p.id AND l.action IN ('create', 'update')
        AND l.decision = 'approved'),
    (SELECT count(*) FROM plan_lines l WHERE l.plan_id = p.id AND l.action IN ('create', 'update')
        AND l.decision = 'rejected')";

const PLAN_FROM: &str = "FROM plans p";

fn plan_from_row(r: &Row, now: DateTime<Utc>) -> Result<PlanRecord, DbError> {
    let expires_at = r.get::<_, Ts>(6)?.0;
    let superseded_at = r.get::<_, Option<Ts>>(7)?.map(|t| t.0);
    let applied_at = r.get::<_, Option<Ts>>(8)?.map(|t| t.0);
    let (status, expired_because) = plan_status(now, expires_at, superseded_at, applied_at);
    Ok(PlanRecord {
        id: PlanId(r.get(0)?),
        tenant: r.get(1)?,
        created_at: r.get::<_, Ts>(2)?.0,
        created_by: r.get(3)?,
        source: r.get(4)?,
        run: r.get::<_, Option<i64>>(5)?.map(RunId),
        expires_at,
        superseded_at,
        applied_at,
        applied_run: r.get::<_, Option<i64>>(9)?.map(RunId),
        status,
        expired_because,
        counts: PlanCounts {
            lines: r.get(10)?,
            changes: r.get(11)?,
            pending: r.get(12)?,
            approved: r.get(13)?,
            rejected: r.get(14)?,
        },
    })
}

/// Where a plan stands at `now`: applied once applied; expired once newer
/// usage was imported or past its expiry; pending otherwise. With why it
/// expired.
pub(crate) fn plan_status(
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    superseded_at: Option<DateTime<Utc>>,
    applied_at: Option<DateTime<Utc>>,
) -> (PlanStatus, Option<String>) {
    if applied_at.is_some() {
        return (PlanStatus::Applied, None);
    }
    if superseded_at.is_some() {
        return (
            PlanStatus::Expired,
            Some("newer usage was imported after it was made".into()),
        );
    }
    if now >= expires_at {
        return (
            PlanStatus::Expired,
            Some(format!(
                "it expired at {}",
                expires_at.format("%Y-%m-%d %H:%M UTC")
            )),
        );
    }
    (PlanStatus::Pending, None)
}

fn plan_line_from_row(r: &Row) -> Result<PlanLine, DbError> {
    Ok(PlanLine {
        line: NewPlanLine {
            org_id: r.get(0)?,
            org_name: r.get(1)?,
            company_id: r.get(2)?,
            agreement_id: r.get(3)?,
            package_key: r.get(4)?,
            product_id: r.get(5)?,
            current_quantity: r.get(6)?,
            new_quantity: r.get(7)?,
            action: r.get(8)?,
            line_id: r.get(9)?,
            unit_price: r.get(10)?,
            message: r.get(11)?,
        },
        decision: r.get(12)?,
        result: r.get(13)?,
        result_message: r.get(14)?,
    })
}

impl Store {
    /// The tenant's approval rules ([`ApprovalRules::default`] until set).
    pub fn approval_rules(&self, tenant: &str) -> Result<ApprovalRules, StoreError> {
        check_tenant(tenant)?;
        let ctx = "reading the approval rules";
        Ok(self
            .conn
            .query_row(
                "SELECT auto_approve, hold_decrease_over, hold_increase_over, hold_new_lines,
                        plan_expiry_days, effective_date
                 FROM approval_rules WHERE tenant = ?1",
                [tenant],
                |r| {
                    Ok(ApprovalRules {
                        auto_approve: r.get(0)?,
                        hold_decrease_over: r.get(1)?,
                        hold_increase_over: r.get(2)?,
                        hold_new_lines: r.get(3)?,
                        plan_expiry_days: r.get(4)?,
                        effective_date: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(ctx, e))?
            .unwrap_or_default())
    }

    /// Replaces the tenant's approval rules.
    pub fn set_approval_rules(
        &self,
        tenant: &str,
        rules: &ApprovalRules,
    ) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        for (what, value) in [
            ("--hold-decrease-over", rules.hold_decrease_over),
            ("--hold-increase-over", rules.hold_increase_over),
        ] {
            if let Some(pct) = value
                && !(pct.is_finite() && pct >= 0.0)
            {
                return Err(StoreError::InvalidInput(format!(
                    "{what} must be a percentage of 0 or more, not {pct}"
                )));
            }
        }
        if rules.plan_expiry_days == 0 {
            return Err(StoreError::InvalidInput(
                "a plan must stay applicable for at least 1 day: pass --plan-expiry-days 1 or more"
                    .into(),
            ));
        }
        let ctx = "saving the approval rules";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;
        tx.execute(
            "INSERT INTO approval_rules (tenant, auto_approve, hold_decrease_over,
                 hold_increase_over, hold_new_lines, plan_expiry_days, updated_at, effective_date)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (tenant) DO UPDATE SET auto_approve = ?2, hold_decrease_over = ?3,
                 hold_increase_over = ?4, hold_new_lines = ?5, plan_expiry_days = ?6,
                 updated_at = ?7, effective_date = ?8",
            params![
                tenant,
                rules.auto_approve,
                rules.hold_decrease_over,
                rules.hold_increase_over,
                rules.hold_new_lines,
                rules.plan_expiry_days,
                Ts(self.now()),
                rules.effective_date,
            ],
        )
        .map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Creates a plan of `lines` for `tenant`, made by `actor` from `run`,
    /// expiring after the tenant's rules' days, in one transaction.
    pub fn create_plan(
        &self,
        tenant: &str,
        source: PlanSource,
        run: Option<RunId>,
        actor: &str,
        lines: &[NewPlanLine],
    ) -> Result<PlanId, StoreError> {
        check_tenant(tenant)?;
        let ctx = "saving a plan";
        let e = |e| self.err(ctx, e);
        let rules = self.approval_rules(tenant)?;
        let tx = self.write_tx(ctx)?;
        let id = self.insert_plan(&tx, tenant, source, run, actor, &rules)?;
        self.insert_plan_lines(&tx, id, lines)?;
        tx.commit().map_err(e)?;
        Ok(id)
    }

    fn insert_plan(
        &self,
        tx: &Conn,
        tenant: &str,
        source: PlanSource,
        run: Option<RunId>,
        actor: &str,
        rules: &ApprovalRules,
    ) -> Result<PlanId, StoreError> {
        let ctx = "saving a plan";
        let e = |e| self.err(ctx, e);
        self.touch_tenant(tx, tenant)?;
        let now = self.now();
        let id: i64 = tx
            .query_row(
                "INSERT INTO plans (tenant, created_at, created_by, source, run_id, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                params![
                    tenant,
                    Ts(now),
                    actor,
                    source,
                    run.map(|r| r.0),
                    Ts(now + TimeDelta::days(i64::from(rules.plan_expiry_days))),
                ],
                |r| r.get(0),
            )
            .map_err(e)?;
        let id = PlanId(id);
        tx.execute(
            "INSERT INTO plan_events (plan_id, at, actor, kind, detail)
             VALUES (?1, ?2, ?3, 'created', ?4)",
            params![id.0, Ts(now), actor, format!("from {source}")],
        )
        .map_err(e)?;
        Ok(id)
    }

    /// Adds (or, for a line already in it, replaces) `lines` in plan `id`.
    fn insert_plan_lines(
        &self,
        tx: &Conn,
        id: PlanId,
        lines: &[NewPlanLine],
    ) -> Result<(), StoreError> {
        let e = |e| self.err("saving a plan's lines", e);
        let mut insert = tx
            .prepare(
                "INSERT INTO plan_lines (plan_id, org_id, org_name, company_id,
                     agreement_id, package_key, product_id, current_quantity, new_quantity,
                     action, line_id, unit_price, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (plan_id, org_id, package_key) DO UPDATE SET
                     org_name = excluded.org_name, company_id = excluded.company_id,
                     agreement_id = excluded.agreement_id, product_id = excluded.product_id,
                     current_quantity = excluded.current_quantity,
                     new_quantity = excluded.new_quantity, action = excluded.action,
                     line_id = excluded.line_id, unit_price = excluded.unit_price,
                     message = excluded.message, decision = 'pending', result = NULL,
                     result_message = NULL",
            )
            .map_err(e)?;
        for l in lines {
            insert
                .execute(params![
                    id.0,
                    l.org_id,
                    l.org_name,
                    l.company_id,
                    l.agreement_id,
                    l.package_key,
                    l.product_id,
                    l.current_quantity,
                    l.new_quantity,
                    l.action,
                    l.line_id,
                    l.unit_price,
                    l.message,
                ])
                .map_err(e)?;
        }
        Ok(())
    }

    /// The plan a sync run holds its lines in: created, from `run`, on the
    /// first call, then the same one.
    pub(super) fn run_plan(
        &self,
        tx: &Conn,
        tenant: &str,
        run: RunId,
        actor: &str,
    ) -> Result<PlanId, StoreError> {
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM plans WHERE run_id = ?1 AND source = 'sync'",
                [run.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err("finding a run's plan", e))?;
        if let Some(id) = existing {
            return Ok(PlanId(id));
        }
        let rules = self.approval_rules(tenant)?;
        self.insert_plan(tx, tenant, PlanSource::Sync, Some(run), actor, &rules)
    }

    /// Adds `lines` to `run`'s plan (creating it), within `tx`.
    pub(super) fn hold_lines(
        &self,
        tx: &Conn,
        tenant: &str,
        run: RunId,
        actor: &str,
        lines: &[NewPlanLine],
    ) -> Result<Option<PlanId>, StoreError> {
        if lines.is_empty() {
            return Ok(None);
        }
        let id = self.run_plan(tx, tenant, run, actor)?;
        self.insert_plan_lines(tx, id, lines)?;
        Ok(Some(id))
    }

    /// The plan `run` held its lines in, if it held any.
    pub fn plan_of_run(&self, run: RunId) -> Result<Option<PlanId>, StoreError> {
        self.conn
            .query_row(
                "SELECT id FROM plans WHERE run_id = ?1 AND source = 'sync'",
                [run.0],
                |r| r.get(0).map(PlanId),
            )
            .optional()
            .map_err(|e| self.err("finding a run's plan", e))
    }

    /// The tenant's plans, newest first, at most `limit`.
    pub fn plans(&self, tenant: &str, limit: usize) -> Result<Vec<PlanRecord>, StoreError> {
        check_tenant(tenant)?;
        let e = |e| self.err("listing plans", e);
        let now = self.now();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {PLAN_COLUMNS} {PLAN_FROM} WHERE p.tenant = ?1 ORDER BY p.id DESC LIMIT ?2"
            ))
            .map_err(e)?;
        let rows = stmt
            .query_map(
                params![tenant, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| plan_from_row(r, now),
            )
            .map_err(e)?;
        rows.collect::<Result<_, _>>().map_err(e)
    }

    /// Plan `id` of `tenant`: another tenant's plan is no plan.
    pub fn plan(&self, tenant: &str, id: PlanId) -> Result<PlanRecord, StoreError> {
        check_tenant(tenant)?;
        self.plan_in(&self.conn, tenant, id)
    }

    fn plan_in(&self, conn: &Conn, tenant: &str, id: PlanId) -> Result<PlanRecord, StoreError> {
        let now = self.now();
        conn.query_row(
            &format!("SELECT {PLAN_COLUMNS} {PLAN_FROM} WHERE p.tenant = ?1 AND p.id = ?2"),
            params![tenant, id.0],
            |r| plan_from_row(r, now),
        )
        .optional()
        .map_err(|e| self.err("reading a plan", e))?
        .ok_or(StoreError::NoSuchPlan(id.0))
    }

    /// Plan `id`'s lines, by organization and package.
    pub fn plan_lines(&self, tenant: &str, id: PlanId) -> Result<Vec<PlanLine>, StoreError> {
        self.plan(tenant, id)?;
        let e = |e| self.err("reading a plan's lines", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT org_id, org_name, company_id, agreement_id, package_key, product_id,
                        current_quantity, new_quantity, action, line_id, unit_price, message,
                        decision, result, result_message
                 FROM plan_lines WHERE plan_id = ?1 ORDER BY org_id, package_key",
            )
            .map_err(e)?;
        let rows = stmt.query_map([id.0], plan_line_from_row).map_err(e)?;
        rows.collect::<Result<_, _>>().map_err(e)
    }

    /// Records `actor`'s `decision` on the lines `(org, package)` of plan
    /// `id`, which must be pending, with one event naming them. Returns the
    /// plan as it is now.
    pub fn decide_plan_lines(
        &self,
        tenant: &str,
        id: PlanId,
        lines: &[(String, String)],
        decision: LineDecision,
        actor: &str,
    ) -> Result<PlanRecord, StoreError> {
        check_tenant(tenant)?;
        let kind = match decision {
            LineDecision::Approved => PlanEventKind::Approved,
            LineDecision::Rejected => PlanEventKind::Rejected,
            LineDecision::Pending => {
                return Err(StoreError::InvalidInput(
                    "a decision is approve or reject".into(),
                ));
            }
        };
        let ctx = "recording a decision on a plan";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        let plan = self.plan_in(&tx, tenant, id)?;
        require_pending(&plan)?;
        {
            let mut update = tx
                .prepare(
                    "UPDATE plan_lines SET decision = ?4
                     WHERE plan_id = ?1 AND org_id = ?2 AND package_key = ?3",
                )
                .map_err(e)?;
            for (org, package) in lines {
                if update
                    .execute(params![id.0, org, package, decision])
                    .map_err(e)?
                    == 0
                {
                    return Err(StoreError::InvalidInput(format!(
                        "plan {id} has no line for organization '{org}' and package '{package}': \
                         run `seatsync plan {id}` to see its lines"
                    )));
                }
            }
        }
        let detail = lines
            .iter()
            .map(|(o, p)| format!("{o}:{p}"))
            .collect::<Vec<_>>()
            .join(", ");
        tx.execute(
            "INSERT INTO plan_events (plan_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id.0, Ts(self.now()), actor, kind, detail],
        )
        .map_err(e)?;
        let plan = self.plan_in(&tx, tenant, id)?;
        tx.commit().map_err(e)?;
        Ok(plan)
    }

    /// Marks plan `id` applied by `run`, if it is pending: the one step
    /// that makes a plan applicable once. Called by the run that writes
    /// it, under its lock, before its first request.
    ///
    /// `run` is `None` when nothing was left to write (every approved
    /// line's organization unmapped since): the plan is applied all the
    /// same, so it cannot be applied later.
    pub fn claim_plan(
        &self,
        tenant: &str,
        id: PlanId,
        run: Option<RunId>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let ctx = "marking a plan applied";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        let plan = self.plan_in(&tx, tenant, id)?;
        require_pending(&plan)?;
        let now = self.now();
        tx.execute(
            "UPDATE plans SET applied_at = ?2, applied_run_id = ?3 WHERE id = ?1",
            params![id.0, Ts(now), run.map(|r| r.0)],
        )
        .map_err(e)?;
        let detail = match run {
            Some(run) => format!("by run {run}"),
            None => "nothing left to write".to_string(),
        };
        tx.execute(
            "INSERT INTO plan_events (plan_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, 'applied', ?4)",
            params![id.0, Ts(now), actor, detail],
        )
        .map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Records what applying plan `id` did with its lines:
    /// `(org, package, result, message)`.
    pub fn record_plan_results(
        &self,
        id: PlanId,
        results: &[(String, String, ApplyResult, Option<String>)],
    ) -> Result<(), StoreError> {
        let ctx = "recording what applying a plan did";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        {
            let mut update = tx
                .prepare(
                    "UPDATE plan_lines SET result = ?4, result_message = ?5
                     WHERE plan_id = ?1 AND org_id = ?2 AND package_key = ?3",
                )
                .map_err(e)?;
            for (org, package, result, message) in results {
                update
                    .execute(params![id.0, org, package, result, message])
                    .map_err(e)?;
            }
        }
        tx.commit().map_err(e)
    }

    /// The tenant's plan events, newest first, at most `limit`.
    pub fn plan_events(&self, tenant: &str, limit: usize) -> Result<Vec<PlanEvent>, StoreError> {
        check_tenant(tenant)?;
        let e = |e| self.err("listing decisions on plans", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.plan_id, e.at, e.actor, e.kind, e.detail
                 FROM plan_events e JOIN plans p ON p.id = e.plan_id
                 WHERE p.tenant = ?1 ORDER BY e.id DESC LIMIT ?2",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map(
                params![tenant, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok(PlanEvent {
                        plan: PlanId(r.get(0)?),
                        at: r.get::<_, Ts>(1)?.0,
                        actor: r.get(2)?,
                        kind: r.get(3)?,
                        detail: r.get(4)?,
                    })
                },
            )
            .map_err(e)?;
        rows.collect::<Result<_, _>>().map_err(e)
    }
}

impl PlanRecord {
    /// An error naming why, and what to do, unless the plan is pending.
    pub fn require_pending(&self) -> Result<(), StoreError> {
        require_pending(self)
    }
}

/// An error unless `plan` is pending.
fn require_pending(plan: &PlanRecord) -> Result<(), StoreError> {
    match plan.status {
        PlanStatus::Pending => Ok(()),
        status => Err(StoreError::PlanNotPending {
            id: plan.id.0,
            status,
            why: match status {
                PlanStatus::Applied => format!(
                    "it was applied at {}{}; a plan is applied once — run `seatsync review` for a new one",
                    plan.applied_at
                        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default(),
                    plan.applied_run
                        .map(|r| format!(" (run {r}: `seatsync history --run {r}`)"))
                        .unwrap_or_default()
                ),
                _ => format!(
                    "{}; run `seatsync review` for a new one",
                    plan.expired_because.as_deref().unwrap_or("it expired")
                ),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 6, 0, 0).unwrap()
    }

    #[test]
    fn a_plan_is_pending_until_it_expires_or_newer_usage_arrives() {
        let expires = at(20);
        assert_eq!(
            plan_status(at(15), expires, None, None).0,
            PlanStatus::Pending
        );
        let (status, why) = plan_status(at(20), expires, None, None);
        assert_eq!(status, PlanStatus::Expired);
        assert_eq!(why.unwrap(), "it expired at 2026-11-20 06:00 UTC");
        let (status, why) = plan_status(at(15), expires, Some(at(14)), None);
        assert_eq!(status, PlanStatus::Expired);
        assert!(why.unwrap().contains("newer usage"));
        assert_eq!(
            plan_status(at(25), expires, Some(at(14)), Some(at(12))).0,
            PlanStatus::Applied
        );
    }

    #[test]
    fn default_rules_hold_nothing() {
        assert!(ApprovalRules::default().holds_nothing());
        let rules = ApprovalRules {
            hold_new_lines: true,
            ..ApprovalRules::default()
        };
        assert!(!rules.holds_nothing());
    }
}
