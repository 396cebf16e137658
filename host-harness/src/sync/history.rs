//! A run's history written in batches: organizations' outcomes are
//! committed many to a transaction instead of one each, which takes the
//! store off a run's critical path (one commit, one disk sync, per batch).
//!
//! What a crash can lose is bounded: the history of at most one batch
//! ([`BATCH_SIZE`] organizations, or [`BATCH_WAIT`] of results) of
//! organizations that wrote nothing. An organization that wrote is
//! committed at once ([`Batch::is_due`]): each write is journaled, and
//! committed, before it is sent (`JournalSink`), and its answer right
//! after. The next run, which marks this one interrupted, reads the PSA
//! before writing anything, so it redoes the lost organizations without
//! writing twice.

use std::time::Duration;

use tokio::time::Instant;

use super::OrgOutcome;
use crate::store::{LineNote, OrgAttempt, OrgExtras, OrgRecord, RunId, Store, StoreError};

/// The most outcomes committed in one transaction.
pub(super) const BATCH_SIZE: usize = 100;

/// The longest an outcome waits to be committed: on a slow PSA the batch
/// fills slowly, and `history` (or the console) should not lag behind.
pub(super) const BATCH_WAIT: Duration = Duration::from_millis(250);

/// Outcomes received but not yet committed, oldest first.
#[derive(Default)]
pub(super) struct Batch {
    outcomes: Vec<OrgOutcome>,
    /// When the oldest arrived.
    since: Option<Instant>,
}

impl Batch {
    /// Adds an outcome to commit with the next batch.
    pub(super) fn push(&mut self, outcome: OrgOutcome) {
        self.since.get_or_insert_with(Instant::now);
        self.outcomes.push(outcome);
    }

    /// Whether the batch should be committed now: it is full, or it holds
    /// an organization that wrote. What became of a write (answered,
    /// settled) is committed as soon as it is known, so that a crash never
    /// leaves a write that was answered looking unanswered (which would
    /// make its organization wait out a settle window on the next run).
    /// Runs that change nothing, the daily case, write in full batches.
    pub(super) fn is_due(&self) -> bool {
        self.outcomes.len() >= BATCH_SIZE || self.outcomes.iter().any(|o| !o.journal.is_empty())
    }

    /// When the batch must be committed at the latest (`None`: empty).
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + BATCH_WAIT)
    }

    /// Commits the batch to `run`'s history in one transaction, then
    /// hands each outcome, in order, to `finished`.
    pub(super) fn commit(
        &mut self,
        store: &Store,
        run: RunId,
        actor: &str,
        finished: &mut dyn FnMut(OrgOutcome),
    ) -> Result<(), StoreError> {
        record(store, run, &self.outcomes, actor)?;
        self.since = None;
        for outcome in self.outcomes.drain(..) {
            finished(outcome);
        }
        Ok(())
    }
}

/// Commits `outcomes` to the run's history in one transaction, with what
/// each sent even if it failed; a second attempt replaces the first's
/// lines.
pub(super) fn record(
    store: &Store,
    run: RunId,
    outcomes: &[OrgOutcome],
    actor: &str,
) -> Result<(), StoreError> {
    let notes: Vec<Vec<LineNote>> = outcomes
        .iter()
        .map(|outcome| {
            outcome
                .duplicates
                .iter()
                .map(|d| LineNote {
                    line: d.line,
                    message: d.message.clone(),
                })
                .collect()
        })
        .collect();
    let records: Vec<OrgRecord<'_>> = outcomes
        .iter()
        .zip(&notes)
        .map(|(outcome, notes)| OrgRecord {
            plan: &outcome.plan,
            attempt: match (&outcome.waiting, &outcome.result) {
                (Some(message), _) => OrgAttempt::Waiting { message },
                (None, Ok(report)) => OrgAttempt::Report(report),
                (None, Err(message)) => OrgAttempt::Failed {
                    message,
                    requests: outcome.requests,
                    writes: outcome.writes,
                },
            },
            number: outcome.attempt,
            extras: OrgExtras {
                writes: &outcome.journal,
                notes,
                withheld: &outcome.withheld,
                actor,
            },
        })
        .collect();
    store.record_org_outcomes(run, &records).map(drop)
}
