//! The checks of what a connector answers, before anyone sees it.
//!
//! A component is not trusted to answer within the contract or within
//! reason: a sync report must answer its request line for line
//! ([`check_report`]), or the call fails; and every message it returns
//! (errors, skip reasons, a trap's stderr) is cut to a bounded size
//! ([`cap`], [`Output::capped`]), so that it cannot put megabytes of text
//! into history or the host's output.

use seatsync_contract::{ConnectorError, LineOutcome, SyncReport, SyncRequest};

use super::RuntimeError;
use super::contract::Output;

/// Checks that a sync report answers `request`: one line per request line,
/// for the same package and product, in order. Anything else (a hostile or
/// broken component returning a million lines) is refused before it reaches
/// history.
pub(super) fn check_report(report: &SyncReport, request: &SyncRequest) -> Result<(), RuntimeError> {
    if report.lines.len() != request.lines.len() {
        return Err(RuntimeError::BrokenContract(format!(
            "the sync report has {} lines for a request of {}",
            report.lines.len(),
            request.lines.len()
        )));
    }
    let mismatch = report
        .lines
        .iter()
        .zip(&request.lines)
        .position(|(got, asked)| {
            got.package_key != asked.package_key || got.product_id != asked.product_id
        });
    if let Some(i) = mismatch {
        return Err(RuntimeError::BrokenContract(format!(
            "line {} of the sync report is not for the package and product of the request's line {}",
            i + 1,
            i + 1
        )));
    }
    Ok(())
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub(super) fn cap(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

/// A [`ConnectorError`] with every message cut to `max` bytes.
fn cap_error(e: ConnectorError, max: usize) -> ConnectorError {
    use ConnectorError as E;
    let c = |m: String| cap(m, max);
    match e {
        E::InvalidConfig(m) => E::InvalidConfig(c(m)),
        E::Unauthorized(m) => E::Unauthorized(c(m)),
        E::Forbidden {
            message,
            permission,
        } => E::Forbidden {
            message: c(message),
            permission: permission.map(c),
        },
        E::NotFound(m) => E::NotFound(c(m)),
        E::RateLimited {
            retry_after_seconds,
            message,
        } => E::RateLimited {
            retry_after_seconds,
            message: c(message),
        },
        E::Remote {
            status,
            code,
            message,
        } => E::Remote {
            status,
            code: c(code),
            message: c(message),
        },
        E::Transport(m) => E::Transport(c(m)),
        E::InvalidResponse(m) => E::InvalidResponse(c(m)),
    }
}

impl Output {
    /// The same answer with its error messages (and a report's skip reasons
    /// and line errors) cut to `max` bytes: a component cannot put megabytes
    /// of text into history or the host's output.
    pub(super) fn capped(self, max: usize) -> Output {
        let err = |e| cap_error(e, max);
        match self {
            Output::Description(d) => Output::Description(d),
            Output::Plan(v) => Output::Plan(v.map_err(err)),
            Output::Info(v) => Output::Info(v.map_err(err)),
            Output::Products(v) => Output::Products(v.map_err(err)),
            Output::Companies(v) => Output::Companies(v.map_err(err)),
            Output::Contracts(v) => Output::Contracts(v.map_err(err)),
            Output::Ended(v) => Output::Ended(v.map_err(err)),
            Output::Report(v) => Output::Report(v.map_err(err).map(|mut report| {
                for line in &mut report.lines {
                    line.outcome =
                        match std::mem::replace(&mut line.outcome, LineOutcome::Unchanged) {
                            LineOutcome::Skipped(reason) => LineOutcome::Skipped(cap(reason, max)),
                            LineOutcome::Failed(e) => LineOutcome::Failed(cap_error(e, max)),
                            other => other,
                        };
                }
                report
            })),
        }
    }
}
