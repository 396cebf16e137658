//! Duplicates seatsync itself created, and ending the newer line of one
//! after a person confirmed it.
//!
//! The write journal keeps seatsync from creating a line twice whenever it
//! can see the first write. A write it cannot see (a second, older seatsync
//! on another machine; a PSA whose reads lag behind its writes) can still
//! leave two active lines for one product: a conflict, which a sync never
//! resolves itself. When two or more of the lines in conflict were created
//! by this database's own journaled writes, the conflict is a **duplicate
//! seatsync created**, and this module says so precisely: which lines, when
//! each was created, and that the newer ones are those to end
//! ([`SeatsyncDuplicate`]; the rule is [`find_duplicate`]).
//!
//! Ending one is a person's decision, never seatsync's: [`plan_end`] checks
//! that a line is the newer seatsync line of a duplicate the latest syncs
//! found (and says why not otherwise, writing nothing), and [`end_line`]
//! takes the [`Confirmation`] the person gave, records the end, asks the
//! connector to end the line (`end-line`, which checks again that the line
//! is the contract's and still active), and records what came of it. No
//! sync and no daemon calls it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use seatsync_contract::{ConnectorDescription, ConnectorError, LineOutcome, RecordId, SyncReport};
use serde_json::{Value, json};

use crate::connection::Connected;
use crate::runtime::{Exchange, JournalWrite, RuntimeError, WriteJournal};
use crate::store::{
    Confirmation, DEFAULT_TENANT, EndState, JournalEntry, LatestConflict, LineEnd, NewLineEnd,
    NewWrite, RunId, Store, StoreError, WriteResolution, WriteState,
};

/// A line seatsync created, as its journal recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedLine {
    /// The line (ConnectWise: the addition's id).
    pub line_id: RecordId,
    /// When its create was recorded, just before it was sent.
    pub created_at: DateTime<Utc>,
    /// The journal entry of the create.
    pub journal_entry: i64,
    /// The run that created it (`None` once that run was deleted).
    pub run: Option<RunId>,
}

/// Two or more active lines for one product, at least two of which this
/// database's journal records as created by seatsync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatsyncDuplicate {
    /// seatsync's lines, oldest first; at least two.
    pub created: Vec<CreatedLine>,
    /// The conflict's other lines, which seatsync's journal did not create
    /// (a person's, or another installation's), sorted.
    pub others: Vec<RecordId>,
}

impl SeatsyncDuplicate {
    /// The line to keep: the oldest seatsync created, the one billed since.
    pub fn kept(&self) -> &CreatedLine {
        &self.created[0]
    }

    /// The lines to end: the newer ones seatsync created.
    pub fn to_end(&self) -> &[CreatedLine] {
        &self.created[1..]
    }

    /// The line's entry among seatsync's, if seatsync created it.
    pub fn created_line(&self, line_id: RecordId) -> Option<&CreatedLine> {
        self.created.iter().find(|c| c.line_id == line_id)
    }

    /// What to tell a person: `duplicate created by seatsync: agreement
    /// addition 501 at 2027-06-15 06:00:00 UTC and agreement addition 502 at
    /// 2027-06-15 07:00:00 UTC; end 502 with `seatsync resolve --end 502``,
    /// in the connector's nouns, for `tenant`.
    pub fn message(&self, connector: &ConnectorDescription, tenant: &str) -> String {
        let noun = &connector.line_noun;
        let created = join_and(
            self.created
                .iter()
                .map(|c| format!("{noun} {} at {}", c.line_id, when(c.created_at))),
        );
        let ids = join_and(self.to_end().iter().map(|c| c.line_id.to_string()));
        let commands = join_and(
            self.to_end()
                .iter()
                .map(|c| format!("`{}`", end_command(tenant, c.line_id))),
        );
        let mut message =
            format!("duplicate created by seatsync: {created}; end {ids} with {commands}");
        if !self.others.is_empty() {
            let others = join_and(self.others.iter().map(RecordId::to_string));
            message.push_str(&format!(
                "; {noun} {others} {} not created by seatsync: keep or end {} in {} yourself",
                if self.others.len() == 1 {
                    "was"
                } else {
                    "were"
                },
                if self.others.len() == 1 { "it" } else { "them" },
                connector.psa
            ));
        }
        message
    }

    /// The commands that end the lines to end, for `tenant`.
    pub fn commands(&self, tenant: &str) -> Vec<String> {
        self.to_end()
            .iter()
            .map(|c| end_command(tenant, c.line_id))
            .collect()
    }

    /// The duplicate as JSON, for `--json` outputs: seatsync's lines with
    /// their times, the one to keep, those to end, the others, and the
    /// commands.
    pub fn to_json(&self, tenant: &str) -> Value {
        json!({
            "created": self.created.iter().map(|c| json!({
                "line_id": c.line_id,
                "created_at": c.created_at.to_rfc3339(),
                "journal_entry": c.journal_entry,
                "run": c.run.map(|r| r.0),
            })).collect::<Vec<_>>(),
            "keep": self.kept().line_id,
            "end": self.to_end().iter().map(|c| c.line_id).collect::<Vec<_>>(),
            "others": self.others,
            "commands": self.commands(tenant),
        })
    }
}

/// `seatsync resolve --end ID`, with `--tenant` when not the default one.
pub fn end_command(tenant: &str, line_id: RecordId) -> String {
    if tenant == DEFAULT_TENANT {
        format!("seatsync resolve --end {line_id}")
    } else {
        format!("seatsync --tenant {tenant} resolve --end {line_id}")
    }
}

/// `2027-06-15 06:00:00 UTC`.
fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The rule: the lines of a conflict (`line_ids`) are a duplicate seatsync
/// created when at least two of them are lines the journal records as
/// created by seatsync's own writes (`journal`: any entries; those that
/// created none of the lines are ignored). Oldest first by the time the
/// create was recorded (then by entry), so the first is the one billed
/// since. A conflict of fewer than two lines (two request lines for one
/// product) is never one.
pub fn find_duplicate(
    line_ids: &[RecordId],
    journal: &[JournalEntry],
) -> Option<SeatsyncDuplicate> {
    let mut created: Vec<CreatedLine> = Vec::new();
    let mut entries: Vec<&JournalEntry> = journal
        .iter()
        .filter(|e| e.created_id.is_some_and(|id| line_ids.contains(&id)))
        .collect();
    entries.sort_by_key(|e| (e.recorded_at, e.id));
    for entry in entries {
        let Some(line_id) = entry.created_id else {
            continue;
        };
        // One create per line: a second entry naming it (which the journal
        // does not make) would not make it two lines.
        if created.iter().any(|c| c.line_id == line_id) {
            continue;
        }
        created.push(CreatedLine {
            line_id,
            created_at: entry.recorded_at,
            journal_entry: entry.id,
            run: entry.run,
        });
    }
    if created.len() < 2 {
        return None;
    }
    let mut others: Vec<RecordId> = line_ids
        .iter()
        .copied()
        .filter(|id| !created.iter().any(|c| c.line_id == *id))
        .collect();
    others.sort_unstable();
    others.dedup();
    Some(SeatsyncDuplicate { created, others })
}

/// Whether the lines `line_ids` of a conflict are a duplicate seatsync
/// created, from `tenant`'s journal ([`find_duplicate`]).
pub fn seatsync_duplicate(
    store: &Store,
    tenant: &str,
    line_ids: &[RecordId],
) -> Result<Option<SeatsyncDuplicate>, StoreError> {
    if line_ids.len() < 2 {
        return Ok(None);
    }
    let journal = store.writes_that_created(tenant, line_ids)?;
    Ok(find_duplicate(line_ids, &journal))
}

/// A conflict line of a report that is a duplicate seatsync created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDuplicate {
    /// The line's index in the report.
    pub line: usize,
    /// The duplicate.
    pub duplicate: SeatsyncDuplicate,
    /// What to tell a person ([`SeatsyncDuplicate::message`]).
    pub message: String,
}

/// The conflict lines of `report` that are duplicates seatsync created.
/// Called by a sync for each report before it is recorded, so that history
/// and every front end say so.
pub fn duplicates_in_report(
    store: &Store,
    tenant: &str,
    connector: &ConnectorDescription,
    report: &SyncReport,
) -> Result<Vec<LineDuplicate>, StoreError> {
    let mut found = Vec::new();
    for (line, result) in report.lines.iter().enumerate() {
        if let LineOutcome::Conflict(ids) = &result.outcome
            && let Some(duplicate) = seatsync_duplicate(store, tenant, ids)?
        {
            let message = duplicate.message(connector, tenant);
            found.push(LineDuplicate {
                line,
                duplicate,
                message,
            });
        }
    }
    Ok(found)
}

/// A duplicate seatsync created, as the latest sync of its contract and
/// product found it, with what `seatsync resolve` has ended of it since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDuplicate {
    /// The conflict the latest sync recorded.
    pub conflict: LatestConflict,
    /// Its reading.
    pub duplicate: SeatsyncDuplicate,
    /// Lines of it `seatsync resolve` ended after that sync found it.
    pub ended: Vec<LineEnd>,
}

impl KnownDuplicate {
    /// The lines still to end: the newer seatsync lines not ended since.
    pub fn still_to_end(&self) -> Vec<&CreatedLine> {
        self.duplicate
            .to_end()
            .iter()
            .filter(|c| !self.ended.iter().any(|e| e.line_id == c.line_id))
            .collect()
    }
}

/// The duplicates seatsync created that the latest syncs found, oldest run
/// first: for each contract and product, the latest line recorded, when it
/// is a conflict whose lines are a duplicate seatsync created.
pub fn known_duplicates(store: &Store, tenant: &str) -> Result<Vec<KnownDuplicate>, StoreError> {
    let ends = store.line_ends(tenant)?;
    let mut known = Vec::new();
    for conflict in store.latest_conflicts(tenant)? {
        let Some(duplicate) = seatsync_duplicate(store, tenant, &conflict.line_ids)? else {
            continue;
        };
        let ended = ends
            .iter()
            .filter(|e| applies_to(e, &conflict) && e.state == EndState::Ended)
            .filter(|e| duplicate.to_end().iter().any(|c| c.line_id == e.line_id))
            .cloned()
            .collect();
        known.push(KnownDuplicate {
            conflict,
            duplicate,
            ended,
        });
    }
    Ok(known)
}

/// Whether `end` was made for `conflict` (or a later conflict of the same
/// lines): an end recorded against an earlier run does not count once a
/// later sync found the line active again.
fn applies_to(end: &LineEnd, conflict: &LatestConflict) -> bool {
    end.contract_id == conflict.contract_id && end.conflict_run.is_some_and(|r| r >= conflict.run)
}

/// Why `seatsync resolve` did not end a line. Each message says why and
/// what to do; in every case but [`ResolveError::Failed`] (and a store
/// error) nothing was written to the PSA.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The line is in no conflict the latest syncs found.
    #[error(
        "{noun} {line_id} is in no conflict the latest syncs found, so it is not part of a duplicate seatsync \
         created: nothing was changed. `seatsync resolve` lists those; if it has just become one, run `seatsync \
         sync` first"
    )]
    NotInConflict {
        /// The connector's line noun.
        noun: String,
        /// The line.
        line_id: RecordId,
    },
    /// The conflict's lines were not created by seatsync (two of them at
    /// least), so seatsync does not choose.
    #[error(
        "{noun} {line_id} is in a conflict on {contract_noun} {contract_id} (lines {lines}), but seatsync's journal \
         created {created} of them, not two: seatsync does not choose between lines it did not create, so nothing \
         was changed; keep one in {psa} yourself"
    )]
    NotSeatsyncDuplicate {
        /// The connector's line noun.
        noun: String,
        /// The connector's contract noun.
        contract_noun: String,
        /// The PSA's name.
        psa: String,
        /// The line.
        line_id: RecordId,
        /// The contract.
        contract_id: RecordId,
        /// The lines in conflict, `86, 87`.
        lines: String,
        /// How many seatsync created.
        created: usize,
    },
    /// The line is in a seatsync duplicate, but seatsync did not create it.
    #[error(
        "{noun} {line_id} was not created by seatsync (its journal created {created}), so seatsync does not end \
         it: nothing was changed; decide about it in {psa}"
    )]
    NotCreatedBySeatsync {
        /// The connector's line noun.
        noun: String,
        /// The PSA's name.
        psa: String,
        /// The line.
        line_id: RecordId,
        /// The lines seatsync created, `501 and 502`.
        created: String,
    },
    /// The line is the older seatsync line: the one to keep.
    #[error(
        "{noun} {line_id} is the older of the lines seatsync created for this product (at {created_at}): it is the \
         one billed since and the one to keep, so nothing was changed; end the newer one with {commands}"
    )]
    Older {
        /// The connector's line noun.
        noun: String,
        /// The line.
        line_id: RecordId,
        /// When seatsync created it.
        created_at: String,
        /// The commands for the newer lines.
        commands: String,
    },
    /// `seatsync resolve` already ended the line.
    #[error(
        "{noun} {line_id} was already ended by `seatsync resolve` at {at} (it stops billing on {day}): nothing was \
         changed; the next `seatsync sync` should find one line"
    )]
    AlreadyEnded {
        /// The connector's line noun.
        noun: String,
        /// The line.
        line_id: RecordId,
        /// When.
        at: String,
        /// The day it stops billing.
        day: String,
    },
    /// The connector refused before writing (the line is no longer active
    /// or not the contract's), or its contract cannot end lines.
    #[error("{noun} {line_id} was not ended, and nothing was written: {reason}")]
    Refused {
        /// The connector's line noun.
        noun: String,
        /// The line.
        line_id: RecordId,
        /// The connector's (or the runtime's) words, secrets redacted.
        reason: String,
    },
    /// Ending the line failed; it may or may not have ended.
    #[error(
        "ending {noun} {line_id} failed: {reason}; check it in {psa}, then run `seatsync sync` (and `seatsync \
         resolve` again if the duplicate is still there)"
    )]
    Failed {
        /// The connector's line noun.
        noun: String,
        /// The PSA's name.
        psa: String,
        /// The line.
        line_id: RecordId,
        /// What went wrong, secrets redacted.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A line checked to be the newer seatsync line of a known duplicate: what
/// [`end_line`] ends once a person confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEnd {
    /// The tenant.
    pub tenant: String,
    /// The duplicate it belongs to.
    pub known: KnownDuplicate,
    /// The line to end.
    pub line: CreatedLine,
}

impl PlannedEnd {
    /// What is about to happen, for the confirmation: `End agreement
    /// addition 502 (created by seatsync at …) on agreement 108, product 19
    /// (organization pe-100533, package business), so that it stops billing
    /// on 2027-06-15; agreement addition 501 (created at …) stays.`
    pub fn describe(&self, connector: &ConnectorDescription, day: NaiveDate) -> String {
        let c = &self.known.conflict;
        let kept = self.known.duplicate.kept();
        format!(
            "End {noun} {} (created by seatsync at {}) on {} {}, product {} (organization {}, package {}), so \
             that it stops billing on {day}; {noun} {} (created at {}) stays.",
            self.line.line_id,
            when(self.line.created_at),
            connector.contract_noun,
            c.contract_id,
            c.product_id,
            c.org_id,
            c.package_key,
            kept.line_id,
            when(kept.created_at),
            noun = connector.line_noun,
        )
    }
}

/// Checks that `line_id` may be ended: it is a newer line seatsync created
/// in a duplicate the latest sync of its contract and product found, and
/// `seatsync resolve` has not ended it since. Writes nothing; the errors
/// say why not and what to do instead.
pub fn plan_end(
    store: &Store,
    tenant: &str,
    connector: &ConnectorDescription,
    line_id: RecordId,
) -> Result<PlannedEnd, ResolveError> {
    let noun = || connector.line_noun.clone();
    let conflicts = store.latest_conflicts(tenant)?;
    // The latest conflict naming the line.
    let Some(conflict) = conflicts
        .into_iter()
        .rev()
        .find(|c| c.line_ids.contains(&line_id))
    else {
        return Err(ResolveError::NotInConflict {
            noun: noun(),
            line_id,
        });
    };
    let Some(duplicate) = seatsync_duplicate(store, tenant, &conflict.line_ids)? else {
        let created = store
            .writes_that_created(tenant, &conflict.line_ids)?
            .iter()
            .filter_map(|e| e.created_id)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        return Err(ResolveError::NotSeatsyncDuplicate {
            noun: noun(),
            contract_noun: connector.contract_noun.clone(),
            psa: connector.psa.clone(),
            line_id,
            contract_id: conflict.contract_id,
            lines: conflict
                .line_ids
                .iter()
                .map(RecordId::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            created,
        });
    };
    let Some(line) = duplicate.created_line(line_id).cloned() else {
        return Err(ResolveError::NotCreatedBySeatsync {
            noun: noun(),
            psa: connector.psa.clone(),
            line_id,
            created: join_and(duplicate.created.iter().map(|c| c.line_id.to_string())),
        });
    };
    if duplicate.kept().line_id == line_id {
        return Err(ResolveError::Older {
            noun: noun(),
            line_id,
            created_at: when(line.created_at),
            commands: join_and(
                duplicate
                    .commands(tenant)
                    .into_iter()
                    .map(|c| format!("`{c}`")),
            ),
        });
    }
    let ends = store.line_ends(tenant)?;
    if let Some(ended) = ends
        .iter()
        .rev()
        .find(|e| e.line_id == line_id && e.state == EndState::Ended && applies_to(e, &conflict))
    {
        return Err(ResolveError::AlreadyEnded {
            noun: noun(),
            line_id,
            at: when(ended.finished_at.unwrap_or(ended.requested_at)),
            day: ended.end_day.clone(),
        });
    }
    let ended = ends
        .into_iter()
        .filter(|e| applies_to(e, &conflict) && e.state == EndState::Ended)
        .filter(|e| duplicate.to_end().iter().any(|c| c.line_id == e.line_id))
        .collect();
    Ok(PlannedEnd {
        tenant: tenant.to_string(),
        known: KnownDuplicate {
            conflict,
            duplicate,
            ended,
        },
        line,
    })
}

/// How [`end_line`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOptions {
    /// The day the line stops billing (today: a sync on it or later no
    /// longer counts the line).
    pub day: NaiveDate,
    /// How a person confirmed it: there is no way to call [`end_line`]
    /// without saying.
    pub confirmed: Confirmation,
    /// The write journal's settle window for the end's write.
    pub settle_window: Duration,
}

/// Ends the line of `plan` through the connector, after a person confirmed
/// it (`options.confirmed`): records the end, sends the connector's
/// `end-line` with its write journaled, and records what came of it. The
/// connector checks again that the line is the contract's and still
/// active; if not, it writes nothing and this fails with
/// [`ResolveError::Refused`].
pub async fn end_line(
    store: &Store,
    connected: &Connected,
    connector: &ConnectorDescription,
    plan: &PlannedEnd,
    options: &EndOptions,
) -> Result<LineEnd, ResolveError> {
    let conflict = &plan.known.conflict;
    let day = options.day.format("%Y-%m-%d").to_string();
    let id = store.record_line_end(&NewLineEnd {
        tenant: &plan.tenant,
        org_id: &conflict.org_id,
        contract_id: conflict.contract_id,
        product_id: conflict.product_id,
        line_id: plan.line.line_id,
        kept_line_id: plan.known.duplicate.kept().line_id,
        end_day: &day,
        confirmed: options.confirmed,
        conflict_run: Some(conflict.run),
    })?;
    let journal = Arc::new(EndJournal {
        store: Mutex::new(store.reopen()?),
        tenant: plan.tenant.clone(),
        site: connected.policy.describe_endpoints(),
        org_id: conflict.org_id.clone(),
        settle_window: options.settle_window,
    });
    let call = connected
        .runtime
        .end_line(
            &connected.policy,
            &connected.settings,
            conflict.contract_id,
            plan.line.line_id,
            &day,
            Some(journal as Arc<dyn WriteJournal>),
        )
        .await;
    let redact = |text: String| connected.secrets.redact(&text);
    let (state, reason, writes) = match call {
        Ok(call) => {
            let writes = resolutions(&call.exchanges);
            match call.value {
                Ok(()) => (EndState::Ended, None, writes),
                // The connector's check: not the contract's, or no longer
                // active. It wrote nothing.
                Err(ConnectorError::NotFound(m)) => (EndState::Refused, Some(redact(m)), writes),
                Err(other) => (EndState::Failed, Some(redact(other.to_string())), writes),
            }
        }
        Err(failed) => {
            let writes = resolutions(&failed.exchanges);
            let state = match failed.error {
                // Refused before anything was sent.
                RuntimeError::NotInContract { .. } => EndState::Refused,
                _ => EndState::Failed,
            };
            (state, Some(redact(failed.error.to_string())), writes)
        }
    };
    store.finish_line_end(id, state, reason.as_deref(), &writes)?;
    let noun = connector.line_noun.clone();
    let line_id = plan.line.line_id;
    match (state, reason) {
        (EndState::Ended, _) => store
            .line_end(id)?
            .ok_or_else(|| StoreError::InvalidInput(format!("line end {id} vanished")).into()),
        (EndState::Refused, reason) => Err(ResolveError::Refused {
            noun,
            line_id,
            reason: reason.unwrap_or_default(),
        }),
        (_, reason) => Err(ResolveError::Failed {
            noun,
            psa: connector.psa.clone(),
            line_id,
            reason: reason.unwrap_or_default(),
        }),
    }
}

/// What the end's exchanges say of its journaled write: answered, or not.
fn resolutions(exchanges: &[Exchange]) -> Vec<WriteResolution> {
    exchanges
        .iter()
        .filter_map(|x| {
            let entry = x.journal_entry?;
            Some(WriteResolution {
                entry,
                state: if x.status.is_some() {
                    WriteState::Answered
                } else {
                    WriteState::Unanswered
                },
                status: x.status,
                error: x.error.clone(),
                created_id: None,
            })
        })
        .collect()
}

/// The journal of an end's write: recorded like a sync's, without a run, so
/// that one left without an answer makes the organization's next sync
/// wait for it to settle.
struct EndJournal {
    store: Mutex<Store>,
    tenant: String,
    site: String,
    org_id: String,
    settle_window: Duration,
}

impl WriteJournal for EndJournal {
    fn record(&self, write: &JournalWrite) -> Result<i64, String> {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        store
            .record_write(&NewWrite {
                tenant: &self.tenant,
                site: &self.site,
                run: None,
                org_id: &self.org_id,
                method: &write.method,
                url: &write.url,
                body_sha256: &write.body_sha256,
                settle_window: self.settle_window,
            })
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 6, 15, 6, 0, 0).unwrap() + chrono::TimeDelta::seconds(secs)
    }

    /// A journal entry of `id` recorded at `secs`, that created `created`.
    fn entry(id: i64, secs: i64, created: Option<RecordId>) -> JournalEntry {
        JournalEntry {
            id,
            tenant: "default".into(),
            site: "https://cw.example.com".into(),
            run: Some(RunId(id)),
            org_id: "o1".into(),
            method: "POST".into(),
            url: "https://cw.example.com/finance/agreements/108/additions".into(),
            body_sha256: "00".into(),
            recorded_at: at(secs),
            settle_until: at(secs + 210),
            state: WriteState::Answered,
            status: Some(201),
            error: None,
            created_id: created,
            resolved_at: Some(at(secs + 1)),
        }
    }

    fn connector() -> ConnectorDescription {
        ConnectorDescription {
            name: "test".into(),
            version: "1".into(),
            psa: "ConnectWise Manage".into(),
            line_noun: "agreement addition".into(),
            contract_noun: "agreement".into(),
            settings: Vec::new(),
            line_options: Vec::new(),
        }
    }

    fn ids(d: &SeatsyncDuplicate) -> (Vec<RecordId>, Vec<RecordId>) {
        (
            d.created.iter().map(|c| c.line_id).collect(),
            d.others.clone(),
        )
    }

    #[test]
    fn two_lines_seatsync_created_are_its_duplicate_oldest_kept() {
        // Listed newest first, and the conflict's ids in any order.
        let journal = [entry(9, 3600, Some(502)), entry(4, 0, Some(501))];
        let d = find_duplicate(&[502, 501], &journal).expect("a duplicate");
        assert_eq!(ids(&d), (vec![501, 502], vec![]));
        assert_eq!(d.kept().line_id, 501);
        assert_eq!(d.kept().journal_entry, 4);
        assert_eq!(
            d.to_end().iter().map(|c| c.line_id).collect::<Vec<_>>(),
            [502]
        );
        assert_eq!(
            d.message(&connector(), "default"),
            "duplicate created by seatsync: agreement addition 501 at 2027-06-15 06:00:00 UTC and agreement \
             addition 502 at 2027-06-15 07:00:00 UTC; end 502 with `seatsync resolve --end 502`"
        );
    }

    #[test]
    fn one_line_seatsync_created_or_none_is_not_its_duplicate() {
        // 86 and 87 were there before seatsync (the demo's conflict).
        assert_eq!(find_duplicate(&[86, 87], &[entry(1, 0, Some(501))]), None);
        // seatsync created one of them; the other is a person's.
        assert_eq!(
            find_duplicate(&[86, 501], &[entry(1, 0, Some(501)), entry(2, 5, None)]),
            None
        );
        // Two request lines for one product: no ids.
        assert_eq!(find_duplicate(&[], &[entry(1, 0, Some(501))]), None);
        // Entries that created other lines do not count.
        assert_eq!(
            find_duplicate(
                &[501, 502],
                &[entry(1, 0, Some(501)), entry(2, 9, Some(777))]
            ),
            None
        );
    }

    #[test]
    fn the_same_time_is_ordered_by_entry_and_a_line_counts_once() {
        let journal = [
            entry(7, 0, Some(502)),
            entry(3, 0, Some(501)),
            entry(8, 60, Some(501)),
        ];
        let d = find_duplicate(&[501, 502], &journal).expect("a duplicate");
        assert_eq!(ids(&d), (vec![501, 502], vec![]));
        assert_eq!(d.created[0].journal_entry, 3);
    }

    #[test]
    fn three_lines_name_every_newer_one_and_the_others() {
        let journal = [
            entry(1, 0, Some(501)),
            entry(2, 60, Some(502)),
            entry(3, 120, Some(503)),
        ];
        let d = find_duplicate(&[86, 503, 501, 502], &journal).expect("a duplicate");
        assert_eq!(ids(&d), (vec![501, 502, 503], vec![86]));
        assert_eq!(
            d.message(&connector(), "acme"),
            "duplicate created by seatsync: agreement addition 501 at 2027-06-15 06:00:00 UTC, agreement addition \
             502 at 2027-06-15 06:01:00 UTC and agreement addition 503 at 2027-06-15 06:02:00 UTC; end 502 and \
             503 with `seatsync --tenant acme resolve --end 502` and `seatsync --tenant acme resolve --end 503`; \
             agreement addition 86 was not created by seatsync: keep or end it in ConnectWise Manage yourself"
        );
        assert_eq!(
            d.to_json("default"),
            json!({
                "created": [
                    {"line_id": 501, "created_at": "2027-06-15T06:00:00+00:00", "journal_entry": 1, "run": 1},
                    {"line_id": 502, "created_at": "2027-06-15T06:01:00+00:00", "journal_entry": 2, "run": 2},
                    {"line_id": 503, "created_at": "2027-06-15T06:02:00+00:00", "journal_entry": 3, "run": 3},
                ],
                "keep": 501,
                "end": [502, 503],
                "others": [86],
                "commands": ["seatsync resolve --end 502", "seatsync resolve --end 503"],
            })
        );
    }

    #[test]
    fn the_line_noun_is_the_connectors() {
        let journal = [entry(1, 0, Some(-5)), entry(2, 60, Some(7_000_000_001))];
        let d = find_duplicate(&[7_000_000_001, -5], &journal).expect("a duplicate");
        let tally = ConnectorDescription {
            psa: "Tally".into(),
            line_noun: "contract line".into(),
            ..connector()
        };
        assert_eq!(
            d.message(&tally, "default"),
            "duplicate created by seatsync: contract line -5 at 2027-06-15 06:00:00 UTC and contract line \
             7000000001 at 2027-06-15 06:01:00 UTC; end 7000000001 with `seatsync resolve --end 7000000001`"
        );
    }
}
