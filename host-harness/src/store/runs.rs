//! Sync runs and their per-line results: the history, and crash recovery.
//!
//! A run is recorded ([`Store::begin_run`]) before the first request of the
//! sync, each organization's result is committed as soon as it is known
//! ([`Store::record_org_result`]), and the run is closed with
//! [`Store::finish_run`]. A crash therefore leaves a `running` run with the
//! results of every organization finished before it; the next process to
//! take the tenant's sync lock marks it `interrupted`
//! ([`Store::recover_interrupted_runs`]).

use std::fmt;

use super::db::{Conn, DbError, OptionalExtension, Row, ToValue, Value, params};
use chrono::{DateTime, Utc};
use seatsync_contract::{LineOutcome, RecordId, SyncReport};

use super::journal::WriteResolution;
use super::mappings::OrgPlan;
use super::plans::{NewPlanLine, PlanId, Withheld, WithheldLine};
use super::{LockGuard, Store, StoreError, Ts, check_tenant, sync_lock_name};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An operator's `seatsync sync`.
    Manual,
    /// The daemon's schedule (or its start-up catch-up).
    Daemon,
    /// The daemon trying again, later the same day, the organizations its
    /// run left failed for a transient reason.
    Retry,
}
text_enum!(Trigger { Manual => "manual", Daemon => "daemon", Retry => "retry" });

/// Which organizations a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunScope {
    /// Every organization of the tenant (what the schedule runs).
    Every,
    /// Only some, named by the operator (`seatsync sync --org`). Such a
    /// run does not count as the day's run when the daemon decides whether
    /// to catch up a missed slot: the other organizations were not synced.
    Some,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Started and not finished (or its process is still to be found dead).
    Running,
    /// Every organization and line went through (skipped lines included).
    Succeeded,
    /// Nothing failed, but some lines need a person (conflicts: two
    /// active additions for one product, left alone by design) or are
    /// waiting for an earlier unanswered write to settle.
    Attention,
    /// The run failed as a whole, or an organization or a line failed.
    Failed,
    /// The process stopped before finishing it.
    Interrupted,
}
text_enum!(RunStatus {
    Running => "running",
    Succeeded => "succeeded",
    Attention => "attention",
    Failed => "failed",
    Interrupted => "interrupted",
});

/// The kind of a recorded line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// An addition was (or in a dry run would be) created.
    Created,
    /// An addition's quantity was (would be) changed.
    Updated,
    /// The addition already had the quantity.
    Unchanged,
    /// Several additions, or several packages, for one product.
    Conflict,
    /// Not attempted; see the message.
    Skipped,
    /// The write failed; see the message.
    Failed,
    /// Not attempted yet: an earlier write for the organization got no
    /// answer and may still be applied; see the message for until when.
    Waiting,
    /// Not written: the tenant's approval rules hold it for a person, in
    /// the run's plan (`seatsync plan`).
    Held,
    /// Not written: applying a plan, the PSA no longer showed what the
    /// review saw (or the mapping changed); the next review picks it up.
    Changed,
    /// The whole organization failed (no package, product or quantity).
    OrgFailed,
}
text_enum!(LineKind {
    Created => "created",
    Updated => "updated",
    Unchanged => "unchanged",
    Conflict => "conflict",
    Skipped => "skipped",
    Failed => "failed",
    Waiting => "waiting",
    Held => "held",
    Changed => "changed",
    OrgFailed => "org-failed",
});

/// What one more attempt at an organization gave
/// ([`Store::record_org_retry`]).
#[derive(Debug, Clone, Copy)]
pub enum OrgAttempt<'a> {
    /// The connector's report.
    Report(&'a SyncReport),
    /// The organization failed as a whole after sending `requests`
    /// requests, `writes` of them writes.
    Failed {
        /// Why.
        message: &'a str,
        /// Requests sent.
        requests: u32,
        /// Writes among them.
        writes: u32,
    },
    /// The organization was not called: an earlier write of its got no
    /// answer and may still be applied. Each of its lines is recorded as
    /// [`LineKind::Waiting`] with `message`.
    Waiting {
        /// For what, and until when.
        message: &'a str,
    },
}

/// The host's own message for one line of a report, recorded instead of
/// the store's (for a conflict between lines seatsync itself created, what
/// to do about it: `crate::resolve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineNote {
    /// The line's index in the report.
    pub line: usize,
    /// The message.
    pub message: String,
}

/// What is recorded with an organization's attempt besides the
/// connector's answer ([`Store::record_org_outcome`]).
#[derive(Debug, Clone, Copy)]
pub struct OrgExtras<'a> {
    /// What became of its writes in the journal.
    pub writes: &'a [WriteResolution],
    /// The host's own messages for lines of the report.
    pub notes: &'a [LineNote],
    /// Lines the host did not send to the connector: held for a person by
    /// the tenant's rules, or changed since the plan being applied.
    pub withheld: &'a [WithheldLine],
    /// Who is running the sync (the held lines' plan is created by them).
    pub actor: &'a str,
}

/// What a batch adds to a run's counters, in the order of the `runs`
/// columns `record_org_outcomes` updates (orgs, orgs_failed, created,
/// updated, unchanged, conflicts, skipped, failed, requests, writes,
/// retried, waiting, held, changed).
type RunCounters = [i64; 14];

/// One organization's result, for [`Store::record_org_outcomes`].
#[derive(Debug, Clone, Copy)]
pub struct OrgRecord<'a> {
    /// The organization as planned.
    pub plan: &'a OrgPlan,
    /// What the attempt gave.
    pub attempt: OrgAttempt<'a>,
    /// Which attempt it was (1 for the first; a later one replaces the
    /// earlier's lines).
    pub number: u32,
    /// What is recorded besides the connector's answer.
    pub extras: OrgExtras<'a>,
}

impl Default for OrgExtras<'_> {
    fn default() -> Self {
        OrgExtras {
            writes: &[],
            notes: &[],
            withheld: &[],
            actor: "seatsync",
        }
    }
}

/// A run's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A run's counters, kept up to date as organizations finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunTotals {
    /// Organizations recorded.
    pub orgs: u32,
    /// Organizations whose call failed as a whole.
    pub orgs_failed: u32,
    /// Lines created.
    pub created: u32,
    /// Lines updated.
    pub updated: u32,
    /// Lines unchanged.
    pub unchanged: u32,
    /// Lines in conflict.
    pub conflicts: u32,
    /// Lines skipped.
    pub skipped: u32,
    /// Lines whose write failed.
    pub failed: u32,
    /// Lines waiting for an earlier unanswered write to settle.
    pub waiting: u32,
    /// Lines held for a person by the tenant's approval rules.
    pub held: u32,
    /// Lines not written because the PSA changed since the plan's review.
    pub changed: u32,
    /// HTTP requests sent.
    pub requests: u64,
    /// Writes ConnectWise accepted.
    pub writes: u64,
}

/// One run, as listed in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// The tenant synced.
    pub tenant: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished (`None` while running, or if interrupted).
    pub finished_at: Option<DateTime<Utc>>,
    /// Where it stands.
    pub status: RunStatus,
    /// Whether it only read and decided.
    pub dry_run: bool,
    /// What started it.
    pub trigger: Trigger,
    /// Which organizations it covered.
    pub scope: RunScope,
    /// Its counters.
    pub totals: RunTotals,
    /// Why it failed as a whole or was interrupted.
    pub message: Option<String>,
    /// Organizations tried again at the end of the run.
    pub retried: u32,
}

impl RunRecord {
    /// Lines that need a person or time: conflicts, waiting lines, lines
    /// held for review and lines changed since review.
    pub fn lines_needing_attention(&self) -> u32 {
        self.totals.conflicts + self.totals.waiting + self.totals.held + self.totals.changed
    }
}

/// One recorded line of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLine {
    /// The vendor organization.
    pub org_id: String,
    /// The company synced.
    pub company_id: Option<RecordId>,
    /// The agreement synced.
    pub agreement_id: Option<RecordId>,
    /// The package (`None` for an [`LineKind::OrgFailed`] row).
    pub package_key: Option<String>,
    /// The product.
    pub product_id: Option<RecordId>,
    /// The quantity asked for.
    pub quantity: Option<u32>,
    /// What happened.
    pub kind: LineKind,
    /// The quantity before an update.
    pub previous_quantity: Option<f64>,
    /// The billing line (addition) concerned, when there is exactly one.
    pub addition_id: Option<RecordId>,
    /// The billing lines (additions) in conflict.
    pub conflict_ids: Vec<RecordId>,
    /// The reason for a skip, failure, conflict or organization failure.
    pub message: Option<String>,
    /// 1, or 2 when the organization was tried again at the end of the run
    /// (the first attempt's lines are replaced).
    pub attempt: u32,
}

const RUN_COLUMNS: &str = "id, tenant, started_at, finished_at, status, dry_run, trigger,
    orgs, orgs_failed, created, updated, unchanged, conflicts, skipped, failed, requests,
    writes, message, partial, retried, waiting, held, changed";

fn run_from_row(r: &Row) -> Result<RunRecord, DbError> {
    Ok(RunRecord {
        id: RunId(r.get(0)?),
        tenant: r.get(1)?,
        started_at: r.get::<_, Ts>(2)?.0,
        finished_at: r.get::<_, Option<Ts>>(3)?.map(|t| t.0),
        status: r.get(4)?,
        dry_run: r.get(5)?,
        trigger: r.get(6)?,
        totals: RunTotals {
            orgs: r.get(7)?,
            orgs_failed: r.get(8)?,
            created: r.get(9)?,
            updated: r.get(10)?,
            unchanged: r.get(11)?,
            conflicts: r.get(12)?,
            skipped: r.get(13)?,
            failed: r.get(14)?,
            waiting: r.get(20)?,
            held: r.get(21)?,
            changed: r.get(22)?,
            // Stored as INTEGER (i64); the counters are never negative.
            requests: r.get::<_, i64>(15)?.max(0).unsigned_abs(),
            writes: r.get::<_, i64>(16)?.max(0).unsigned_abs(),
        },
        message: r.get(17)?,
        scope: if r.get::<_, bool>(18)? {
            RunScope::Some
        } else {
            RunScope::Every
        },
        retried: r.get(19)?,
    })
}

/// The tenant a sync lock is for.
fn lock_tenant(lock: &LockGuard) -> Option<&str> {
    lock.name().strip_prefix("sync:")
}

/// `run_lines` rows a batch of results inserts, kept until the batch's end
/// and then inserted many rows a statement: one round trip to PostgreSQL
/// for up to [`LineRows::PER_STATEMENT`] lines instead of one per line.
#[derive(Default)]
struct LineRows {
    values: Vec<Value>,
}

impl LineRows {
    /// The columns of a row.
    const COLUMNS: &'static str = "run_id, org_id, company_id, agreement_id, package_key, \
        product_id, quantity, outcome, previous_quantity, addition_id, conflict_ids, message, \
        attempt";
    const WIDTH: usize = 13;
    /// Rows a statement (13 parameters each: far below both engines'
    /// parameter limits).
    const PER_STATEMENT: usize = 64;

    /// Keeps a row (the columns in [`LineRows::COLUMNS`]'s order) for the
    /// next [`LineRows::flush`].
    fn push(&mut self, row: &[&dyn ToValue]) {
        debug_assert_eq!(row.len(), Self::WIDTH);
        self.values.extend(row.iter().map(|v| v.to_value()));
    }

    /// Inserts the rows kept, in the order they came (so the lines' ids
    /// keep it).
    fn flush(&mut self, tx: &Conn) -> Result<(), DbError> {
        for chunk in self.values.chunks(Self::WIDTH * Self::PER_STATEMENT) {
            let rows = chunk.len() / Self::WIDTH;
            let placeholders: Vec<String> = (0..rows)
                .map(|r| {
                    let first = r * Self::WIDTH + 1;
                    let row: Vec<String> = (first..first + Self::WIDTH)
                        .map(|i| format!("?{i}"))
                        .collect();
                    format!("({})", row.join(", "))
                })
                .collect();
            tx.execute(
                &format!(
                    "INSERT INTO run_lines ({}) VALUES {}",
                    Self::COLUMNS,
                    placeholders.join(", ")
                ),
                chunk.to_vec(),
            )?;
        }
        self.values.clear();
        Ok(())
    }
}

impl Store {
    fn run_status(&self, tx: &Conn, run: RunId) -> Result<RunStatus, StoreError> {
        tx.query_row("SELECT status FROM runs WHERE id = ?1", [run.0], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| self.err("reading a run", e))?
        .ok_or(StoreError::NoSuchRun(run.0))
    }

    fn require_running(&self, tx: &Conn, run: RunId) -> Result<(), StoreError> {
        match self.run_status(tx, run)? {
            RunStatus::Running => Ok(()),
            status => Err(StoreError::RunNotRunning { id: run.0, status }),
        }
    }

    /// Records the start of a run of `tenant`. `lock` must be the tenant's
    /// sync lock ([`sync_lock_name`]), still held; dry runs need it too, so
    /// that crash recovery can tell live runs from dead ones.
    pub fn begin_run(
        &self,
        lock: &LockGuard,
        tenant: &str,
        trigger: Trigger,
        scope: RunScope,
        dry_run: bool,
    ) -> Result<RunId, StoreError> {
        check_tenant(tenant)?;
        let needed = sync_lock_name(tenant);
        if lock.name() != needed {
            return Err(StoreError::WrongLock {
                tenant: tenant.to_owned(),
                needed,
                held: lock.name().to_owned(),
            });
        }
        let ctx = "recording the start of a run";
        let tx = self.write_tx(ctx)?;
        self.confirm_lock(&tx, lock)?;
        self.touch_tenant(&tx, tenant)?;
        let id: i64 = tx
            .query_row(
            "INSERT INTO runs (tenant, started_at, status, dry_run, trigger, lock_token, partial)
             VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6) RETURNING id",
            params![
                tenant,
                Ts(self.now()),
                dry_run,
                trigger,
                lock.token(),
                scope == RunScope::Some
            ],
                |r| r.get(0),
            )
            .map_err(|e| self.err(ctx, e))?;
        let id = RunId(id);
        tx.commit().map_err(|e| self.err(ctx, e))?;
        Ok(id)
    }

    /// Records one organization's result: the connector's report, or why the
    /// whole call failed (one [`LineKind::OrgFailed`] row). Committed at
    /// once, with the run's totals, so an interrupted run keeps it.
    ///
    /// This does not check the lock; call [`LockGuard::heartbeat`] before
    /// each organization to stop if the lock was lost.
    pub fn record_org_result(
        &self,
        run: RunId,
        plan: &OrgPlan,
        result: Result<&SyncReport, &str>,
    ) -> Result<(), StoreError> {
        let attempt = match result {
            Ok(report) => OrgAttempt::Report(report),
            Err(message) => OrgAttempt::Failed {
                message,
                requests: 0,
                writes: 0,
            },
        };
        self.record_org(run, plan, attempt, 1, &OrgExtras::default())
            .map(drop)
    }

    /// Records an organization that failed as a whole after sending
    /// `requests` requests, `writes` of them writes (a connector error, or a
    /// call that trapped or hit a limit part-way): its one
    /// [`LineKind::OrgFailed`] row, and those counts in the run's totals,
    /// since the writes changed ConnectWise whatever became of the call.
    pub fn record_org_failure(
        &self,
        run: RunId,
        plan: &OrgPlan,
        message: &str,
        requests: u32,
        writes: u32,
    ) -> Result<(), StoreError> {
        let attempt = OrgAttempt::Failed {
            message,
            requests,
            writes,
        };
        self.record_org(run, plan, attempt, 1, &OrgExtras::default())
            .map(drop)
    }

    /// Records the result of trying an organization again at the end of the
    /// run ([`OrgAttempt`] as for a first attempt): its earlier lines are
    /// replaced and their counts taken out of the totals, while the
    /// requests and writes of both attempts count, since both were sent. The
    /// run's `retried` count goes up by one. One transaction, so a crash
    /// leaves either attempt's lines, never both or neither.
    pub fn record_org_retry(
        &self,
        run: RunId,
        plan: &OrgPlan,
        attempt: OrgAttempt<'_>,
    ) -> Result<(), StoreError> {
        self.record_org(run, plan, attempt, 2, &OrgExtras::default())
            .map(drop)
    }

    /// Records one attempt at an organization (`number` 1, or 2 when tried
    /// again: see [`Store::record_org_retry`]) together with what became of
    /// its writes in the journal (`writes`), in one transaction. `notes`
    /// replace the recorded message of the report's conflict lines they
    /// name: the host's own reading of them (`crate::resolve`).
    pub fn record_org_attempt(
        &self,
        run: RunId,
        plan: &OrgPlan,
        attempt: OrgAttempt<'_>,
        number: u32,
        writes: &[WriteResolution],
        notes: &[LineNote],
    ) -> Result<(), StoreError> {
        let extras = OrgExtras {
            writes,
            notes,
            ..OrgExtras::default()
        };
        self.record_org(run, plan, attempt, number.max(1), &extras)
            .map(drop)
    }

    /// [`Store::record_org_attempt`] with lines the host withheld from the
    /// connector ([`OrgExtras::withheld`]): each recorded as a line of the
    /// run, and those held for a person added to the run's plan (created
    /// on the first), all in the same transaction. Returns that plan.
    pub fn record_org_outcome(
        &self,
        run: RunId,
        plan: &OrgPlan,
        attempt: OrgAttempt<'_>,
        number: u32,
        extras: &OrgExtras<'_>,
    ) -> Result<Option<PlanId>, StoreError> {
        self.record_org(run, plan, attempt, number.max(1), extras)
    }

    /// Records several organizations' results of `run` in one transaction
    /// (the sync's history is written in batches: one commit, one disk
    /// sync, for many organizations). Either all are recorded or none.
    /// Returns, for each, the plan its held lines went into.
    pub fn record_org_outcomes(
        &self,
        run: RunId,
        records: &[OrgRecord<'_>],
    ) -> Result<Vec<Option<PlanId>>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = "recording organizations' results";
        let tx = self.write_tx(ctx)?;
        self.require_running(&tx, run)?;
        let mut plans = Vec::with_capacity(records.len());
        // The run's counters change once per batch, not once per
        // organization (a round trip each on PostgreSQL).
        let mut counters: RunCounters = [0; 14];
        let mut lines = LineRows::default();
        for record in records {
            plans.push(self.record_org_in(&tx, run, record, &mut counters, &mut lines)?);
        }
        lines.flush(&tx).map_err(|e| self.err(ctx, e))?;
        tx.execute(
            "UPDATE runs SET orgs = orgs + ?2, orgs_failed = orgs_failed + ?3,
                 created = created + ?4, updated = updated + ?5, unchanged = unchanged + ?6,
                 conflicts = conflicts + ?7, skipped = skipped + ?8, failed = failed + ?9,
                 requests = requests + ?10, writes = writes + ?11, retried = retried + ?12,
                 waiting = waiting + ?13, held = held + ?14, changed = changed + ?15
             WHERE id = ?1",
            std::iter::once(run.0)
                .chain(counters)
                .map(Value::Integer)
                .collect::<Vec<Value>>(),
        )
        .map_err(|e| self.err(ctx, e))?;
        tx.commit().map_err(|e| self.err(ctx, e))?;
        Ok(plans)
    }

    fn record_org(
        &self,
        run: RunId,
        plan: &OrgPlan,
        result: OrgAttempt<'_>,
        attempt: u32,
        extras: &OrgExtras<'_>,
    ) -> Result<Option<PlanId>, StoreError> {
        let record = OrgRecord {
            plan,
            attempt: result,
            number: attempt,
            extras: *extras,
        };
        let mut plans = self.record_org_outcomes(run, std::slice::from_ref(&record))?;
        Ok(plans.pop().flatten())
    }

    /// One organization's result, inside `tx` (a write transaction in
    /// which `run` was checked to be running).
    fn record_org_in(
        &self,
        tx: &Conn,
        run: RunId,
        record: &OrgRecord<'_>,
        counters: &mut RunCounters,
        lines: &mut LineRows,
    ) -> Result<Option<PlanId>, StoreError> {
        let OrgRecord {
            plan,
            attempt: result,
            number,
            ref extras,
        } = *record;
        let attempt = number.max(1);
        let OrgExtras {
            writes,
            notes,
            withheld,
            actor,
        } = *extras;
        let ctx = "recording an organization's result";
        let e = |e| self.err(ctx, e);
        let mut totals = RunTotals {
            orgs: 1,
            ..Default::default()
        };
        // A retry replaces the organization's earlier lines: what they
        // counted comes off the totals (the organization itself stays
        // counted once).
        let mut earlier = RunTotals::default();
        let held_plan;
        if attempt > 1 {
            totals.orgs = 0;
            // The batch's lines so far may include this organization's.
            lines.flush(tx).map_err(e)?;
            let mut stmt = tx
                .prepare(
                    "DELETE FROM run_lines WHERE run_id = ?1 AND org_id = ?2 RETURNING outcome",
                )
                .map_err(e)?;
            let kinds = stmt
                .query_map(params![run.0, plan.org_id], |r| r.get::<_, LineKind>(0))
                .map_err(e)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(e)?;
            for kind in kinds {
                match kind {
                    LineKind::Created => earlier.created += 1,
                    LineKind::Updated => earlier.updated += 1,
                    LineKind::Unchanged => earlier.unchanged += 1,
                    LineKind::Conflict => earlier.conflicts += 1,
                    LineKind::Skipped => earlier.skipped += 1,
                    LineKind::Failed => earlier.failed += 1,
                    LineKind::Waiting => earlier.waiting += 1,
                    LineKind::Held => earlier.held += 1,
                    LineKind::Changed => earlier.changed += 1,
                    LineKind::OrgFailed => earlier.orgs_failed += 1,
                }
            }
        }
        {
            match result {
                OrgAttempt::Waiting { message } => {
                    for line in &plan.lines {
                        totals.waiting += 1;
                        lines.push(params![
                            run.0,
                            plan.org_id,
                            plan.company_id,
                            plan.agreement_id,
                            line.package_key,
                            line.product_id,
                            line.quantity,
                            LineKind::Waiting,
                            None::<f64>,
                            None::<u32>,
                            None::<String>,
                            message,
                            attempt,
                        ]);
                    }
                }
                OrgAttempt::Failed {
                    message,
                    requests,
                    writes,
                } => {
                    totals.orgs_failed = 1;
                    totals.requests = u64::from(requests);
                    totals.writes = u64::from(writes);
                    lines.push(params![
                        run.0,
                        plan.org_id,
                        plan.company_id,
                        plan.agreement_id,
                        None::<String>,
                        None::<u32>,
                        None::<u32>,
                        LineKind::OrgFailed,
                        None::<f64>,
                        None::<u32>,
                        None::<String>,
                        message,
                        attempt,
                    ]);
                }
                OrgAttempt::Report(report) => {
                    totals.requests = u64::from(report.requests);
                    totals.writes = u64::from(report.writes);
                    for (index, line) in report.lines.iter().enumerate() {
                        let (kind, previous, conflicts, message) = match &line.outcome {
                            LineOutcome::Created => {
                                totals.created += 1;
                                (LineKind::Created, None, None, None)
                            }
                            LineOutcome::Updated { previous_quantity } => {
                                totals.updated += 1;
                                (LineKind::Updated, previous_quantity.to_f64(), None, None)
                            }
                            LineOutcome::Unchanged => {
                                totals.unchanged += 1;
                                (LineKind::Unchanged, None, None, None)
                            }
                            LineOutcome::Conflict(ids) => {
                                totals.conflicts += 1;
                                let message = if ids.is_empty() {
                                    "two or more packages of this organization map to this \
                                     product: map them to different products"
                                        .to_owned()
                                } else if let Some(note) = notes
                                    .iter()
                                    .find(|n| n.line == index)
                                    .map(|n| n.message.clone())
                                {
                                    // The host's reading of it (a duplicate
                                    // seatsync itself created).
                                    note
                                } else {
                                    format!(
                                        "{} active additions exist for this product: cancel or \
                                         remove all but one in ConnectWise",
                                        ids.len()
                                    )
                                };
                                let ids = serde_json::to_string(ids).map_err(|err| {
                                    StoreError::InvalidInput(format!(
                                        "cannot record conflict ids: {err}"
                                    ))
                                })?;
                                (LineKind::Conflict, None, Some(ids), Some(message))
                            }
                            LineOutcome::Skipped(reason) => {
                                totals.skipped += 1;
                                (LineKind::Skipped, None, None, Some(reason.clone()))
                            }
                            LineOutcome::Failed(err) => {
                                totals.failed += 1;
                                (LineKind::Failed, None, None, Some(err.to_string()))
                            }
                        };
                        lines.push(params![
                            run.0,
                            plan.org_id,
                            report.company_id,
                            report.contract_id,
                            line.package_key,
                            line.product_id,
                            line.quantity,
                            kind,
                            previous,
                            line.line_id,
                            conflicts,
                            message,
                            attempt,
                        ]);
                    }
                }
            }
            // The lines the host withheld: those held for a person go into
            // the run's plan first, so that their message can name it.
            let held: Vec<NewPlanLine> = withheld
                .iter()
                .filter(|w| w.kind == Withheld::Held)
                .map(|w| w.line.clone())
                .collect();
            let held_in = if held.is_empty() {
                None
            } else {
                let tenant: String = tx
                    .query_row("SELECT tenant FROM runs WHERE id = ?1", [run.0], |r| {
                        r.get(0)
                    })
                    .map_err(e)?;
                self.hold_lines(tx, &tenant, run, actor, &held)?
            };
            for w in withheld {
                let (kind, message) = match (w.kind, held_in) {
                    (Withheld::Held, Some(id)) => {
                        totals.held += 1;
                        (
                            LineKind::Held,
                            format!("held for review in plan {id}: {}", w.message),
                        )
                    }
                    (Withheld::Held, None) => {
                        totals.held += 1;
                        (LineKind::Held, w.message.clone())
                    }
                    (Withheld::Changed, _) => {
                        totals.changed += 1;
                        (LineKind::Changed, w.message.clone())
                    }
                };
                lines.push(params![
                    run.0,
                    plan.org_id,
                    w.line.company_id,
                    w.line.agreement_id,
                    w.line.package_key,
                    w.line.product_id,
                    w.line.new_quantity,
                    kind,
                    w.line.current_quantity,
                    w.line.line_id,
                    None::<String>,
                    message,
                    attempt,
                ]);
            }
            held_plan = held_in;
        }
        let delta = |now: u32, before: u32| i64::from(now) - i64::from(before);
        let change = [
            i64::from(totals.orgs),
            delta(totals.orgs_failed, earlier.orgs_failed),
            delta(totals.created, earlier.created),
            delta(totals.updated, earlier.updated),
            delta(totals.unchanged, earlier.unchanged),
            delta(totals.conflicts, earlier.conflicts),
            delta(totals.skipped, earlier.skipped),
            delta(totals.failed, earlier.failed),
            i64::from(u32::try_from(totals.requests).unwrap_or(u32::MAX)),
            i64::from(u32::try_from(totals.writes).unwrap_or(u32::MAX)),
            i64::from(attempt > 1),
            delta(totals.waiting, earlier.waiting),
            delta(totals.held, earlier.held),
            delta(totals.changed, earlier.changed),
        ];
        for (sum, add) in counters.iter_mut().zip(change) {
            *sum += add;
        }
        self.resolve_writes(tx, Some(run), writes)?;
        Ok(held_plan)
    }

    /// Closes a running run. Its status is `failed` when `error` is given
    /// (the run failed as a whole) or when any organization or line failed;
    /// `attention` when nothing failed but a line conflicted; `succeeded`
    /// otherwise.
    pub fn finish_run(&self, run: RunId, error: Option<&str>) -> Result<RunRecord, StoreError> {
        let ctx = "recording the end of a run";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        self.require_running(&tx, run)?;
        tx.execute(
            "UPDATE runs SET finished_at = ?2, message = ?3,
                 status = CASE WHEN CAST(?3 AS TEXT) IS NOT NULL OR orgs_failed > 0 OR failed > 0
                                   THEN 'failed'
                               WHEN conflicts > 0 OR waiting > 0 OR held > 0 OR changed > 0
                                   THEN 'attention'
                               ELSE 'succeeded' END
             WHERE id = ?1",
            params![run.0, Ts(self.now()), error],
        )
        .map_err(e)?;
        let record = tx
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [run.0],
                run_from_row,
            )
            .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(record)
    }

    /// Marks the tenant's `running` runs that belong to no live holder of
    /// `lock` (the tenant's sync lock, which the caller holds, so no other
    /// process can be running one) as `interrupted`. Returns their ids.
    /// Call it at start-up, right after taking the lock.
    pub fn recover_interrupted_runs(&self, lock: &LockGuard) -> Result<Vec<RunId>, StoreError> {
        let Some(tenant) = lock_tenant(lock) else {
            return Err(StoreError::WrongLock {
                tenant: "?".into(),
                needed: sync_lock_name("<tenant>"),
                held: lock.name().to_owned(),
            });
        };
        let ctx = "marking interrupted runs";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        self.confirm_lock(&tx, lock)?;
        let now = self.now();
        let ids: Vec<RunId> = {
            let mut stmt = tx
                .prepare(
                    "UPDATE runs SET status = 'interrupted', message = ?3
                     WHERE tenant = ?1 AND status = 'running' AND lock_token <> ?2
                     RETURNING id",
                )
                .map_err(e)?;
            let message = format!(
                "the process running this sync stopped before it finished (found at {}); \
                 the organizations recorded were synced, the others were not",
                now.format("%Y-%m-%d %H:%M:%S UTC")
            );
            stmt.query_map(params![tenant, lock.token(), message], |r| {
                Ok(RunId(r.get(0)?))
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?
        };
        tx.commit().map_err(e)?;
        let mut ids = ids;
        ids.sort();
        Ok(ids)
    }

    /// The tenant's most recent runs, newest first, at most `limit`.
    pub fn list_runs(&self, tenant: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        check_tenant(tenant)?;
        let ctx = "listing runs";
        let e = |e| self.err(ctx, e);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE tenant = ?1
                 ORDER BY started_at DESC, id DESC LIMIT ?2"
            ))
            .map_err(e)?;
        let rows = stmt
            .query_map(params![tenant, limit], run_from_row)
            .map_err(e)?;
        rows.collect::<Result<_, _>>().map_err(e)
    }

    /// One run, if it exists.
    pub fn run(&self, run: RunId) -> Result<Option<RunRecord>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [run.0],
                run_from_row,
            )
            .optional()
            .map_err(|e| self.err("reading a run", e))
    }

    /// A run's lines, in the order they were recorded.
    pub fn run_lines(&self, run: RunId) -> Result<Vec<RunLine>, StoreError> {
        let ctx = "reading a run's lines";
        let e = |e| self.err(ctx, e);
        let tx = self.read_tx(ctx)?;
        self.run_status(&tx, run)?;
        let mut stmt = tx
            .prepare(
                "SELECT org_id, company_id, agreement_id, package_key, product_id, quantity,
                        outcome, previous_quantity, addition_id, conflict_ids, message, attempt
                 FROM run_lines WHERE run_id = ?1 ORDER BY id",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map([run.0], |r| {
                let conflicts: Option<String> = r.get(9)?;
                let conflict_ids = match conflicts {
                    None => Vec::new(),
                    Some(text) => {
                        serde_json::from_str(&text).map_err(|err| DbError::Conversion {
                            column: 9,
                            message: format!("not a JSON list of ids: {err}"),
                        })?
                    }
                };
                Ok(RunLine {
                    org_id: r.get(0)?,
                    company_id: r.get(1)?,
                    agreement_id: r.get(2)?,
                    package_key: r.get(3)?,
                    product_id: r.get(4)?,
                    quantity: r.get(5)?,
                    kind: r.get(6)?,
                    previous_quantity: r.get(7)?,
                    addition_id: r.get(8)?,
                    conflict_ids,
                    message: r.get(10)?,
                    attempt: r.get(11)?,
                })
            })
            .map_err(e)?;
        rows.collect::<Result<_, _>>().map_err(e)
    }

    /// When the tenant's last run that counts for the schedule started: the
    /// latest non-dry run of every organization that finished (`succeeded`,
    /// `attention` or `failed`; manual runs count). Interrupted runs do not count, so a
    /// crash mid-sync is caught up at the next start-up; nor do runs of only
    /// some organizations ([`RunScope::Some`]). Pass it to
    /// `schedule::missed_slot`.
    pub fn last_completed_run_start(
        &self,
        tenant: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        check_tenant(tenant)?;
        let t: Option<Ts> = self
            .conn
            .query_row(
                "SELECT max(started_at) FROM runs WHERE tenant = ?1 AND dry_run = 0
                     AND partial = 0 AND status IN ('succeeded', 'attention', 'failed')",
                [tenant],
                |r| r.get(0),
            )
            .map_err(|e| self.err("reading the last run", e))?;
        Ok(t.map(|t| t.0))
    }

    /// Records that a daemon started for the tenant, and returns when one
    /// first did (now, the first time). For a tenant that never ran, this is
    /// what `schedule::missed_slot` compares with.
    pub fn note_daemon_started(&self, tenant: &str) -> Result<DateTime<Utc>, StoreError> {
        check_tenant(tenant)?;
        let ctx = "recording the daemon's start";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;
        tx.execute(
            "UPDATE tenants SET daemon_first_started_at = ?2
             WHERE name = ?1 AND daemon_first_started_at IS NULL",
            params![tenant, Ts(self.now())],
        )
        .map_err(e)?;
        let first: Ts = tx
            .query_row(
                "SELECT daemon_first_started_at FROM tenants WHERE name = ?1",
                [tenant],
                |r| r.get(0),
            )
            .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(first.0)
    }
}
