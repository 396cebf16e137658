//! Why a runtime could not be built or a call did not complete.
//!
//! A [`RuntimeError`] is the host's failure, never the connector's own
//! answer (a `ConnectorError` is a value of the call): the component does
//! not load or link, a site or CA file is unusable, or a call trapped, hit a
//! limit, was ended by the host or broke the contract. [`CallFailed`] is
//! such an error for a call that may already have sent requests: it carries
//! what the host saw it send ([`failed`] takes it from the call's HTTP
//! record), so that writes are never lost from history.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::http::{self, Exchange, UnreachableReason};

/// Why a runtime could not be built or a call did not complete.
///
/// A [`ConnectorError`] (the connector ran and reported a failure) is not a
/// `RuntimeError`: it is the `Err` of [`Call::value`].
///
/// [`ConnectorError`]: seatsync_contract::ConnectorError
/// [`Call::value`]: super::Call::value
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The bytes are not a valid component, or compiling it failed.
    #[error("cannot load the connector component: {0}")]
    Load(String),
    /// The component exports the connector in a contract version this host
    /// does not support.
    #[error(
        "the component was built against seatsync:psa contract version {found}, \
         but this host supports {supported}: use a connector built for {supported}, or upgrade the host"
    )]
    UnsupportedContract {
        /// The version the component exports (`(none)` when unversioned).
        found: String,
        /// The versions this host supports.
        supported: String,
    },
    /// The component does not export `seatsync:psa/connector` at all.
    #[error(
        "the component exports no seatsync:psa/connector interface (it exports: {}): is it a seatsync connector?",
        if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
    )]
    NoConnectorExport {
        /// What it exports instead.
        exports: Vec<String>,
    },
    /// The component needs imports this host does not provide.
    #[error("the component cannot be linked against this host: {0}")]
    Link(String),
    /// The connection's site cannot be turned into a
    /// [`NetworkPolicy`](super::NetworkPolicy).
    #[error("invalid site: {0}")]
    InvalidSite(String),
    /// The policy's CA file cannot be used.
    #[error("the CA file {} cannot be used: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The component trapped (a panic, an invalid operation).
    #[error("the connector crashed (trap): {0}")]
    Trap(String),
    /// The component tried to use more memory than allowed.
    #[error("the connector hit the memory limit of {limit_bytes} bytes")]
    MemoryLimit {
        /// The limit.
        limit_bytes: usize,
    },
    /// The component computed for longer than its CPU budget.
    #[error("the connector hit the CPU limit of {budget:?} of computation")]
    CpuLimit {
        /// The budget.
        budget: Duration,
    },
    /// The call took longer than the wall-clock limit.
    #[error("the connector call hit the wall-clock limit of {limit:?}")]
    WallClock {
        /// The limit.
        limit: Duration,
    },
    /// The site cannot be reached in a way no retry changes (or, for an
    /// interactive call, that a person should hear about at once); the
    /// call was ended rather than left to the connector's retries.
    #[error("cannot reach {site}: {reason}")]
    Unreachable {
        /// The site's authority.
        site: String,
        /// Why, and what to do.
        reason: UnreachableReason,
    },
    /// The component speaks a contract version without the operation asked
    /// for (a 0.1 connector asked to end a line); nothing was sent.
    #[error("this connector speaks contract {version}, which cannot {operation}: {instead}")]
    NotInContract {
        /// The contract version, `0.1`.
        version: String,
        /// What it cannot do, e.g. `end a line`.
        operation: String,
        /// What a person can do instead.
        instead: String,
    },
    /// The component answered with something the contract does not allow
    /// (e.g. a sync report whose lines are not one per request line); the
    /// answer is dropped.
    #[error("the connector broke the seatsync:psa contract: {0}")]
    BrokenContract(String),
}

/// A call that did not complete (a trap, a limit, the wall clock, an answer
/// that breaks the contract), with what the host saw it send before it
/// stopped: those requests happened, and writes among them changed
/// ConnectWise, so history must count them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct CallFailed {
    /// Why the call did not complete.
    pub error: RuntimeError,
    /// Requests sent before it stopped.
    pub requests: u32,
    /// Of those, the POST, PATCH and PUT requests.
    pub writes: u32,
    /// Its HTTP exchanges, refused ones included.
    pub exchanges: Vec<Exchange>,
}

impl From<RuntimeError> for CallFailed {
    /// A failure before anything was sent.
    fn from(error: RuntimeError) -> Self {
        CallFailed {
            error,
            requests: 0,
            writes: 0,
            exchanges: Vec::new(),
        }
    }
}

/// `error`, with what the call's record says it sent.
pub(super) fn failed(error: RuntimeError, record: &Mutex<http::HttpRecord>) -> CallFailed {
    let record = http::take(record);
    CallFailed {
        error,
        requests: record.requests,
        writes: record.writes,
        exchanges: record.exchanges,
    }
}
