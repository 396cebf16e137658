//! The write journal: every write the connector sends, recorded before it
//! goes out, so that a write left without an answer (a process killed in
//! flight, a timeout) is known to the next run, which lets it settle before
//! writing to the same place again. See `docs/reliability.md`.
//!
//! An entry is recorded durably (one commit) just before its write is sent
//! ([`Store::record_write`]); its answer is recorded with the
//! organization's result, in the same transaction
//! ([`Store::record_org_result`] and its siblings take the resolutions), so
//! the journal costs one durable store write per PSA write.

use std::fmt;
use std::time::Duration;

use super::db::{Conn, DbError, FromValue, Params, Row, ToValue, Value, params};
use chrono::{DateTime, Utc};

use seatsync_contract::RecordId;

use super::{RunId, Store, StoreError, Ts, check_tenant};

/// Where a journal entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteState {
    /// Recorded and sent; no answer recorded. A process killed while the
    /// write was in flight leaves its entry here.
    Sent,
    /// The PSA answered (any status).
    Answered,
    /// The request failed without an answer (a timeout, a reset): the PSA
    /// may still apply it.
    Unanswered,
    /// Left without an answer, then resolved by a later run that waited
    /// for the settle window and read before writing again.
    Settled,
}

impl WriteState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteState::Sent => "sent",
            WriteState::Answered => "answered",
            WriteState::Unanswered => "unanswered",
            WriteState::Settled => "settled",
        }
    }

    /// Whether the PSA may still apply the write.
    pub fn is_unresolved(self) -> bool {
        matches!(self, WriteState::Sent | WriteState::Unanswered)
    }
}

impl fmt::Display for WriteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToValue for WriteState {
    fn to_value(&self) -> Value {
        Value::Text(self.as_str().to_owned())
    }
}

impl FromValue for WriteState {
    fn from_value(value: &Value) -> Result<Self, DbError> {
        match String::from_value(value)?.as_str() {
            "sent" => Ok(WriteState::Sent),
            "answered" => Ok(WriteState::Answered),
            "unanswered" => Ok(WriteState::Unanswered),
            "settled" => Ok(WriteState::Settled),
            other => Err(DbError::conversion(format!(
                "unknown write state {other:?}"
            ))),
        }
    }
}

/// A write about to be sent, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWrite<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The site (`scheme://authority`) it goes to.
    pub site: &'a str,
    /// The run sending it; `None` for a write outside any sync run (a line
    /// `seatsync resolve` ends).
    pub run: Option<RunId>,
    /// The organization whose call sends it.
    pub org_id: &'a str,
    /// `POST`, `PATCH`, `PUT` or `DELETE`.
    pub method: &'a str,
    /// The URL, secrets redacted.
    pub url: &'a str,
    /// SHA-256 of the body, hex.
    pub body_sha256: &'a str,
    /// How long after now the PSA could still apply it.
    pub settle_window: Duration,
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Its id.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// The site.
    pub site: String,
    /// The run that sent it (`None` once that run was deleted).
    pub run: Option<RunId>,
    /// The organization.
    pub org_id: String,
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// SHA-256 of the body.
    pub body_sha256: String,
    /// When it was recorded, just before it went out.
    pub recorded_at: DateTime<Utc>,
    /// Until when the PSA could still apply it.
    pub settle_until: DateTime<Utc>,
    /// Where it stands.
    pub state: WriteState,
    /// The PSA's answer.
    pub status: Option<u16>,
    /// Why there was no answer.
    pub error: Option<String>,
    /// What it created, when the connector reported it.
    pub created_id: Option<RecordId>,
    /// When it was answered or settled.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// How a call left one of its writes, or a later run one it waited for;
/// recorded with the organization's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteResolution {
    /// The entry.
    pub entry: i64,
    /// [`WriteState::Answered`], [`WriteState::Unanswered`] or
    /// [`WriteState::Settled`].
    pub state: WriteState,
    /// The answer's status.
    pub status: Option<u16>,
    /// Why there was no answer.
    pub error: Option<String>,
    /// What the write created (an addition's id), when known.
    pub created_id: Option<RecordId>,
}

const COLUMNS: &str = "id, tenant, site, run_id, org_id, method, url, body_sha256, recorded_at,
    settle_until, state, status, error, created_id, resolved_at";

fn entry_from_row(r: &Row) -> Result<JournalEntry, DbError> {
    Ok(JournalEntry {
        id: r.get(0)?,
        tenant: r.get(1)?,
        site: r.get(2)?,
        run: r.get::<_, Option<i64>>(3)?.map(RunId),
        org_id: r.get(4)?,
        method: r.get(5)?,
        url: r.get(6)?,
        body_sha256: r.get(7)?,
        recorded_at: r.get::<_, Ts>(8)?.0,
        settle_until: r.get::<_, Ts>(9)?.0,
        state: r.get(10)?,
        status: r.get(11)?,
        error: r.get(12)?,
        created_id: r.get(13)?,
        resolved_at: r.get::<_, Option<Ts>>(14)?.map(|t| t.0),
    })
}

impl Store {
    /// Records a write about to be sent, durably (its own commit), and
    /// returns the entry's id. Called just before the write goes out.
    pub fn record_write(&self, write: &NewWrite<'_>) -> Result<i64, StoreError> {
        check_tenant(write.tenant)?;
        let ctx = "recording a write in the journal";
        let now = self.now();
        let window = chrono::TimeDelta::from_std(write.settle_window).map_err(|_| {
            StoreError::InvalidInput(format!(
                "the settle window of {:?} is too long",
                write.settle_window
            ))
        })?;
        let tx = self.write_tx(ctx)?;
        let id: i64 = tx
            .query_row(
                "INSERT INTO write_journal (tenant, site, run_id, org_id, method, url, body_sha256,
                 recorded_at, settle_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
                params![
                    write.tenant,
                    write.site,
                    write.run.map(|r| r.0),
                    write.org_id,
                    write.method,
                    write.url,
                    write.body_sha256,
                    Ts(now),
                    Ts(now + window),
                ],
                |r| r.get(0),
            )
            .map_err(|e| self.err(ctx, e))?;
        tx.commit().map_err(|e| self.err(ctx, e))?;
        Ok(id)
    }

    /// The tenant's writes the PSA may still apply ([`WriteState::Sent`]
    /// or [`WriteState::Unanswered`]), oldest first.
    pub fn unresolved_writes(&self, tenant: &str) -> Result<Vec<JournalEntry>, StoreError> {
        check_tenant(tenant)?;
        self.query_entries(
            &format!(
                "SELECT {COLUMNS} FROM write_journal
                 WHERE tenant = ?1 AND state IN ('sent', 'unanswered') ORDER BY id"
            ),
            params![tenant],
        )
    }

    /// The writes a run sent, in the order they were recorded.
    pub fn run_writes(&self, run: RunId) -> Result<Vec<JournalEntry>, StoreError> {
        self.query_entries(
            &format!("SELECT {COLUMNS} FROM write_journal WHERE run_id = ?1 ORDER BY id"),
            params![run.0],
        )
    }

    /// The tenant's entries whose write created one of `ids`, oldest first.
    pub fn writes_that_created(
        &self,
        tenant: &str,
        ids: &[RecordId],
    ) -> Result<Vec<JournalEntry>, StoreError> {
        check_tenant(tenant)?;
        let list = ids
            .iter()
            .map(RecordId::to_string)
            .collect::<Vec<_>>()
            .join(",");
        self.query_entries(
            &format!(
                "SELECT {COLUMNS} FROM write_journal
                 WHERE tenant = ?1 AND created_id IN ({list}) ORDER BY id"
            ),
            params![tenant],
        )
    }

    fn query_entries(
        &self,
        sql: &str,
        params: impl Params,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let ctx = "reading the write journal";
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(ctx, e))?;
        let rows = stmt
            .query_map(params, entry_from_row)
            .map_err(|e| self.err(ctx, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(ctx, e))
    }

    /// Applies `resolutions` inside the caller's transaction, as resolved
    /// by `run` (`None`: outside any run). A resolution never reopens an
    /// entry: an entry already answered or settled stays so.
    pub(super) fn resolve_writes(
        &self,
        tx: &Conn,
        run: Option<RunId>,
        resolutions: &[WriteResolution],
    ) -> Result<(), StoreError> {
        let ctx = "recording the answers to writes";
        let now = self.now();
        let mut stmt = tx
            .prepare(
                "UPDATE write_journal
                 SET state = ?2, status = coalesce(?3, status), error = ?4,
                     created_id = coalesce(?5, created_id),
                     resolved_at = CASE WHEN ?2 = 'unanswered' THEN NULL ELSE CAST(?6 AS TEXT) END,
                     resolved_by_run = CASE WHEN ?2 = 'unanswered' THEN NULL
                                            ELSE CAST(?7 AS BIGINT) END
                 WHERE id = ?1 AND state IN ('sent', 'unanswered')",
            )
            .map_err(|e| self.err(ctx, e))?;
        for r in resolutions {
            stmt.execute(params![
                r.entry,
                r.state,
                r.status,
                r.error,
                r.created_id,
                Ts(now),
                run.map(|r| r.0)
            ])
            .map_err(|e| self.err(ctx, e))?;
        }
        Ok(())
    }
}
