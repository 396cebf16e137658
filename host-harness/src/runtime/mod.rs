//! The connector component in a wasmtime sandbox.
//!
//! A [`Runtime`] compiles the component once (cached on disk, see
//! [`RuntimeOptions::cache_dir`]), checks which contract version it was
//! built against, and keeps it pre-instantiated. A call runs in an instance
//! kept from an earlier call of the same connection (`runtime/warm.rs`), or in a new
//! one, and either way with:
//!
//! - no preopened directories, no environment variables, no arguments, no
//!   sockets (TCP, UDP and name lookup are all off); stdout and stderr go to
//!   a capped in-memory pipe whose lines join the call's log;
//! - outbound HTTP only to the endpoints of the [`NetworkPolicy`] (built
//!   from the connector's own network plan), https only unless
//!   allowed; every exchange is logged and counted;
//! - a memory cap, a CPU budget (epoch interruption), a wall-clock limit,
//!   clamped HTTP timeouts and a response size cap ([`Limits`]).
//!
//! A trap or a limit hit fails that call only, with a [`RuntimeError`] that
//! names the limit; the runtime stays usable. What the connector returns,
//! success or [`ConnectorError`], is in [`Call::value`] together with the
//! call's log lines, exchanges and counts.
//!
//! The generated bindings stay inside this module: callers see only
//! [`seatsync_contract`] types and [`ConnectorError`].
//!
//! [`ConnectorError`]: seatsync_contract::ConnectorError

mod answer;
mod cache;
mod call;
mod contract;
mod engine;
mod error;
mod http;
pub mod journal;
mod limits;
mod native;
mod operations;
mod pacing;
mod policy;
mod pool;
mod sandbox;
mod secrets;
mod warm;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use wasmtime::Engine;

pub use call::Call;
pub use contract::{
    CONNECTOR_INTERFACE, SUPPORTED_CONTRACT_VERSIONS, check_contract, connector_version,
};
use contract::{ContractVersion, PluginPre};
pub use error::{CallFailed, RuntimeError};
pub use http::{Exchange, UnreachableReason};
pub use journal::{JournalWrite, WriteJournal};
pub use limits::{DEFAULT_INSTANCE_POOL, Limits, RuntimeOptions};
pub use native::{HostRequest, HostResponse, HostSendError, HostTransport};
pub use pacing::{DEFAULT_REQUESTS_PER_MINUTE, burst_for, parse_requests_per_minute};
pub use policy::NetworkPolicy;

/// The TLS client configuration the host trusts for its own requests
/// (webhooks): the public web roots.
pub fn tls_client_config() -> Result<std::sync::Arc<rustls::ClientConfig>, RuntimeError> {
    http::tls_config(None)
}
pub use pool::ConnectionStats;
pub use sandbox::{LogLevel, LogLine, LogSource};
pub use secrets::secret_values;

/// The compiled, pre-instantiated connector and the sandbox settings.
///
/// Cheap to share (`&Runtime` from many tasks): a call has its store and
/// instance to itself while it runs; afterwards they may serve a later call
/// of the same connection (`runtime/warm.rs`).
pub struct Runtime {
    engine: Engine,
    pre: PluginPre,
    version: ContractVersion,
    description: tokio::sync::OnceCell<seatsync_contract::ConnectorDescription>,
    limits: Limits,
    contract_version: String,
    loaded_from_cache: bool,
    cache_file: Option<PathBuf>,
    net: Arc<http::Net>,
    slots: Option<Arc<tokio::sync::Semaphore>>,
    idle: warm::IdleInstances,
    ticks: Arc<AtomicU64>,
    stop_ticker: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("contract_version", &self.contract_version)
            .field("loaded_from_cache", &self.loaded_from_cache)
            .field("cache_file", &self.cache_file)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
