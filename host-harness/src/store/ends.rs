//! What `seatsync resolve` needs from the store: the conflicts the latest
//! syncs found, and a record of each line a person confirmed to end.
//!
//! A line end is recorded ([`Store::record_line_end`]) before the connector
//! is asked to end the line, in its own commit, and finished with what came
//! of it ([`Store::finish_line_end`]) together with its write's answer in
//! the journal, in one transaction: a process killed in between leaves a
//! `requested` end, and the journal's entry for its write `sent`.

use std::fmt;

use super::db::{DbError, OptionalExtension, Row, params};
use chrono::{DateTime, Utc};
use seatsync_contract::RecordId;

use super::journal::WriteResolution;
use super::{RunId, Store, StoreError, Ts, check_tenant};

/// The latest line a sync recorded for one contract and product, when it
/// was a conflict between lines of the PSA (two or more active lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestConflict {
    /// The run that recorded it.
    pub run: RunId,
    /// When that run started.
    pub run_started_at: DateTime<Utc>,
    /// Whether that run was a dry run (it read the PSA all the same).
    pub dry_run: bool,
    /// The organization synced.
    pub org_id: String,
    /// The company.
    pub company_id: Option<RecordId>,
    /// The contract the lines are on.
    pub contract_id: RecordId,
    /// The package.
    pub package_key: String,
    /// The product the lines bill.
    pub product_id: RecordId,
    /// The active lines the run found for the product.
    pub line_ids: Vec<RecordId>,
    /// The recorded message.
    pub message: Option<String>,
}

/// How a person confirmed that a line is to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// They typed `yes` when asked.
    Typed,
    /// They passed `--yes` (a script they wrote).
    Flag,
}

/// Where a line end stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndState {
    /// Recorded; the connector's answer is not (yet) recorded.
    Requested,
    /// The connector ended the line.
    Ended,
    /// The connector refused before writing: the line is no longer active,
    /// or not the contract's.
    Refused,
    /// The call failed; the line may or may not have ended.
    Failed,
}

text_enum!(Confirmation { Typed => "typed", Flag => "flag" });
text_enum!(EndState {
    Requested => "requested",
    Ended => "ended",
    Refused => "refused",
    Failed => "failed",
});

/// A line about to be ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLineEnd<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The organization whose contract it is.
    pub org_id: &'a str,
    /// The contract.
    pub contract_id: RecordId,
    /// The product it bills.
    pub product_id: RecordId,
    /// The line to end.
    pub line_id: RecordId,
    /// The older line seatsync created for the product, kept.
    pub kept_line_id: RecordId,
    /// The day it stops billing, `YYYY-MM-DD`.
    pub end_day: &'a str,
    /// How a person confirmed it.
    pub confirmed: Confirmation,
    /// The run whose conflict showed the duplicate.
    pub conflict_run: Option<RunId>,
}

/// One recorded line end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineEnd {
    /// Its id.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// The organization.
    pub org_id: String,
    /// The contract.
    pub contract_id: RecordId,
    /// The product.
    pub product_id: Option<RecordId>,
    /// The line ended (or to end).
    pub line_id: RecordId,
    /// The line kept.
    pub kept_line_id: RecordId,
    /// The day it stops billing.
    pub end_day: String,
    /// How a person confirmed it.
    pub confirmed: Confirmation,
    /// The run whose conflict showed the duplicate.
    pub conflict_run: Option<RunId>,
    /// When it was recorded, just before the connector was called.
    pub requested_at: DateTime<Utc>,
    /// Where it stands.
    pub state: EndState,
    /// What the connector said, for a refusal or a failure.
    pub message: Option<String>,
    /// When its outcome was recorded.
    pub finished_at: Option<DateTime<Utc>>,
}

const END_COLUMNS: &str = "id, tenant, org_id, contract_id, product_id, line_id, kept_line_id,
    end_day, confirmed, conflict_run_id, requested_at, state, message, finished_at";

fn end_from_row(r: &Row) -> Result<LineEnd, DbError> {
    Ok(LineEnd {
        id: r.get(0)?,
        tenant: r.get(1)?,
        org_id: r.get(2)?,
        contract_id: r.get(3)?,
        product_id: r.get(4)?,
        line_id: r.get(5)?,
        kept_line_id: r.get(6)?,
        end_day: r.get(7)?,
        confirmed: r.get(8)?,
        conflict_run: r.get::<_, Option<i64>>(9)?.map(RunId),
        requested_at: r.get::<_, Ts>(10)?.0,
        state: r.get(11)?,
        message: r.get(12)?,
        finished_at: r.get::<_, Option<Ts>>(13)?.map(|t| t.0),
    })
}

impl Store {
    /// For each contract and product, the latest line any run of the tenant
    /// recorded, when it is a conflict between two or more lines of the
    /// PSA; oldest run first.
    ///
    /// Waiting lines and organizations that failed as a whole say nothing
    /// of the PSA's lines, so they are passed over: the conflict before
    /// them is still the latest known. Dry runs count: they read the PSA as
    /// a sync does. "Latest" is by line id, which only grows, not by the
    /// runs' clock.
    pub fn latest_conflicts(&self, tenant: &str) -> Result<Vec<LatestConflict>, StoreError> {
        check_tenant(tenant)?;
        let ctx = "reading the latest conflicts";
        let e = |e| self.err(ctx, e);
        let mut stmt = self
            .conn
            .prepare(
                // One pass over the tenant's lines: the latest line of each
                // contract and product that observed the PSA's lines (line
                // ids grow with runs: runs of a tenant never overlap, and a
                // retry's lines replace its first attempt's), then those
                // that are conflicts.
                "WITH latest AS (
                     SELECT max(l.id) AS id FROM run_lines l JOIN runs r ON r.id = l.run_id
                     WHERE r.tenant = ?1 AND l.agreement_id IS NOT NULL
                       AND l.product_id IS NOT NULL
                       AND l.outcome NOT IN ('waiting', 'org-failed')
                     GROUP BY l.agreement_id, l.product_id)
                 SELECT r.id, r.started_at, r.dry_run, l.org_id, l.company_id, l.agreement_id,
                        l.package_key, l.product_id, l.conflict_ids, l.message
                 FROM latest JOIN run_lines l ON l.id = latest.id JOIN runs r ON r.id = l.run_id
                 WHERE l.outcome = 'conflict'
                   AND l.conflict_ids IS NOT NULL AND l.conflict_ids <> '[]'
                 ORDER BY r.id, l.id",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map([tenant], |r| {
                let ids: String = r.get(8)?;
                let line_ids = serde_json::from_str(&ids).map_err(|err| DbError::Conversion {
                    column: 8,
                    message: format!("not a JSON list of ids: {err}"),
                })?;
                Ok(LatestConflict {
                    run: RunId(r.get(0)?),
                    run_started_at: r.get::<_, Ts>(1)?.0,
                    dry_run: r.get(2)?,
                    org_id: r.get(3)?,
                    company_id: r.get(4)?,
                    contract_id: r.get(5)?,
                    package_key: r.get(6)?,
                    product_id: r.get(7)?,
                    line_ids,
                    message: r.get(9)?,
                })
            })
            .map_err(e)?;
        rows.collect::<Result<_, _>>().map_err(e)
    }

    /// Records a line a person confirmed to end, durably (its own commit),
    /// before the connector is asked to end it; returns the record's id.
    pub fn record_line_end(&self, end: &NewLineEnd<'_>) -> Result<i64, StoreError> {
        check_tenant(end.tenant)?;
        let ctx = "recording a line to end";
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, end.tenant)?;
        let id: i64 = tx
            .query_row(
            "INSERT INTO line_ends (tenant, org_id, contract_id, product_id, line_id, kept_line_id,
                 end_day, confirmed, conflict_run_id, requested_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
            params![
                end.tenant,
                end.org_id,
                end.contract_id,
                end.product_id,
                end.line_id,
                end.kept_line_id,
                end.end_day,
                end.confirmed,
                end.conflict_run.map(|r| r.0),
                Ts(self.now()),
            ],
                |r| r.get(0),
            )
            .map_err(|e| self.err(ctx, e))?;
        tx.commit().map_err(|e| self.err(ctx, e))?;
        Ok(id)
    }

    /// Records what came of line end `id` and of its writes, in one
    /// transaction. An end already finished stays as it was.
    pub fn finish_line_end(
        &self,
        id: i64,
        state: EndState,
        message: Option<&str>,
        writes: &[WriteResolution],
    ) -> Result<(), StoreError> {
        let ctx = "recording the end of a line";
        let tx = self.write_tx(ctx)?;
        tx.execute(
            "UPDATE line_ends SET state = ?2, message = ?3, finished_at = ?4
             WHERE id = ?1 AND state = 'requested'",
            params![id, state, message, Ts(self.now())],
        )
        .map_err(|e| self.err(ctx, e))?;
        self.resolve_writes(&tx, None, writes)?;
        tx.commit().map_err(|e| self.err(ctx, e))
    }

    /// The tenant's line ends, oldest first.
    pub fn line_ends(&self, tenant: &str) -> Result<Vec<LineEnd>, StoreError> {
        check_tenant(tenant)?;
        let ctx = "reading the ended lines";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {END_COLUMNS} FROM line_ends WHERE tenant = ?1 ORDER BY id"
            ))
            .map_err(|e| self.err(ctx, e))?;
        let rows = stmt
            .query_map([tenant], end_from_row)
            .map_err(|e| self.err(ctx, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(ctx, e))
    }

    /// One line end.
    pub fn line_end(&self, id: i64) -> Result<Option<LineEnd>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {END_COLUMNS} FROM line_ends WHERE id = ?1"),
                [id],
                end_from_row,
            )
            .optional()
            .map_err(|e| self.err("reading an ended line", e))
    }
}
