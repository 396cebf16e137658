//! The connector component in a wasmtime sandbox.
//!
//! A [`Runtime`] compiles the component once (cached on disk, see
//! [`RuntimeOptions::cache_dir`]), checks which contract version it was
//! built against, and keeps it pre-instantiated. A call runs in an instance
//! kept from an earlier call of the same connection ([`warm`]), or in a new
//! one, and either way with:
//!
//! - no preopened directories, no environment variables, no arguments, no
//!   sockets (TCP, UDP and name lookup are all off); stdout and stderr go to
//!   a capped in-memory pipe whose lines join the call's log;
//! - outbound HTTP only to the [`SitePolicy`]'s authority, https only unless
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
//! [`seatsync_plugin::model`] types and [`ConnectorError`].

mod bindings;
mod cache;
mod contract;
mod http;
pub mod journal;
mod native;
mod pacing;
mod pool;
mod sandbox;
mod warm;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seatsync_plugin::error::ConnectorError;
use seatsync_plugin::model::{
    Agreement, Company, Connection, ConnectionInfo, Product, SyncReport, SyncRequest,
};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;

use bindings::{ConnectorExports, ConnectwisePlugin, ConnectwisePluginPre};
pub use contract::{
    CONNECTOR_INTERFACE, SUPPORTED_CONTRACT_VERSIONS, check_contract, connector_version,
};
pub use http::{Exchange, SitePolicy, UnreachableReason};
pub use journal::{JournalWrite, WriteJournal};
pub use native::NativeConnector;
pub use pacing::{DEFAULT_REQUESTS_PER_MINUTE, burst_for, parse_requests_per_minute};
pub use pool::ConnectionStats;
use sandbox::{
    CallState, CappedPipe, CpuLimitExceeded, CpuMeter, LogCollector, MemoryLimitExceeded,
    MemoryLimiter, Redactor,
};
pub use sandbox::{LogLevel, LogLine, LogSource};

/// The sandbox's limits. Every field has a default ([`Limits::default`]);
/// change the ones you need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The most linear memory the component may have (default 64 MiB).
    pub memory_bytes: usize,
    /// How often the epoch ticks (default 10 ms): the CPU budget's unit.
    pub epoch_tick: Duration,
    /// How long the component may run without waiting on the host, summed
    /// over the call, in whole ticks (default 10 s). Time spent waiting for
    /// ConnectWise or sleeping between retries does not count.
    pub cpu_time: Duration,
    /// The longest a call may take, waits included (default 10 min).
    pub wall_clock: Duration,
    /// The longest TCP connect and TLS handshake (default 30 s); a shorter
    /// timeout the guest asks for is kept.
    pub connect_timeout: Duration,
    /// The longest wait for a response head (default 120 s).
    pub first_byte_timeout: Duration,
    /// The longest pause within a response body (default 60 s).
    pub between_bytes_timeout: Duration,
    /// The largest response body; a larger one is cut off and the request
    /// fails (default 16 MiB).
    pub max_response_bytes: u64,
    /// The most log lines kept per call (default 2,000).
    pub max_log_lines: usize,
    /// The longest log line kept, in bytes; longer ones are cut (default 4 KiB).
    pub max_log_line_bytes: usize,
    /// The most stdout and stderr kept per call, each (default 64 KiB).
    pub max_stdio_bytes: usize,
    /// The most exchanges kept per call (default 10,000); all are counted.
    pub max_exchanges: usize,
    /// The most requests a minute to one site, over all calls of the
    /// runtime (default 900, under ConnectWise's ~1,000); a request over it
    /// waits for its turn. `None` is unlimited (loopback benchmarks).
    pub requests_per_minute: Option<NonZeroU32>,
    /// Instantiate from wasmtime's pooling allocator with this many instance
    /// slots (default 16), which is then also the most calls running at once:
    /// others wait for a slot. It makes a call's set-up and teardown about
    /// a third cheaper (see `docs/performance.md`). Instances kept idle for
    /// reuse hold slots too; the oldest is dropped when a new instance needs
    /// its slot. `None` allocates each
    /// call's instance on demand, with no cap on calls at once.
    pub instance_pool: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 * 1024 * 1024,
            epoch_tick: Duration::from_millis(10),
            cpu_time: Duration::from_secs(10),
            wall_clock: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(30),
            first_byte_timeout: Duration::from_secs(120),
            between_bytes_timeout: Duration::from_secs(60),
            max_response_bytes: 16 * 1024 * 1024,
            max_log_lines: 2_000,
            max_log_line_bytes: 4 * 1024,
            max_stdio_bytes: 64 * 1024,
            max_exchanges: 10_000,
            requests_per_minute: NonZeroU32::new(DEFAULT_REQUESTS_PER_MINUTE),
            instance_pool: Some(DEFAULT_INSTANCE_POOL),
        }
    }
}

impl Limits {
    /// The limits the HTTP hooks apply.
    pub(crate) fn http(&self) -> http::HttpLimits {
        http::HttpLimits {
            connect_timeout: self.connect_timeout,
            first_byte_timeout: self.first_byte_timeout,
            between_bytes_timeout: self.between_bytes_timeout,
            max_response_bytes: self.max_response_bytes,
            max_exchanges: self.max_exchanges,
        }
    }

    /// The CPU budget in epoch ticks (at least one).
    pub fn cpu_ticks(&self) -> u64 {
        let tick = self.epoch_tick.as_nanos().max(1);
        (self.cpu_time.as_nanos() / tick).max(1) as u64
    }
}

/// How to build a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// The sandbox's limits.
    pub limits: Limits,
    /// Where compiled components are cached (`<dir>/seatsync-connector-<key>.cwasm`).
    /// `None` compiles on every start. The directory must be writable by
    /// the host's user only: its files are loaded as native code.
    pub cache_dir: Option<PathBuf>,
}

/// Why a runtime could not be built or a call did not complete.
///
/// A [`ConnectorError`] (the connector ran and reported a failure) is not a
/// `RuntimeError`: it is the `Err` of [`Call::value`].
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
    /// The connection's site cannot be turned into a [`SitePolicy`].
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
    /// The component answered with something the contract does not allow
    /// (e.g. a sync report whose lines are not one per request line); the
    /// answer is dropped.
    #[error("the connector broke the seatsync:psa contract: {0}")]
    BrokenContract(String),
}

/// The result of one call, with what the host observed while it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Call<T> {
    /// What the connector returned.
    pub value: T,
    /// The call's log lines: the connector's `log.emit` lines in order, then
    /// its stdout and stderr lines.
    pub log: Vec<LogLine>,
    /// The call's HTTP exchanges, refused ones included, in the order they
    /// finished.
    pub exchanges: Vec<Exchange>,
    /// Requests sent (refused ones are not sent and not counted).
    pub requests: u32,
    /// Of those, the POST, PATCH and PUT requests, whatever their response.
    pub writes: u32,
    /// How long the call took.
    pub elapsed: Duration,
}

impl<T> Call<T> {
    /// The same call with another value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Call<U> {
        Call {
            value: f(self.value),
            log: self.log,
            exchanges: self.exchanges,
            requests: self.requests,
            writes: self.writes,
            elapsed: self.elapsed,
        }
    }
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

/// The compiled, pre-instantiated connector and the sandbox settings.
///
/// Cheap to share (`&Runtime` from many tasks): a call has its store and
/// instance to itself while it runs; afterwards they may serve a later call
/// of the same connection ([`warm`]).
pub struct Runtime {
    engine: Engine,
    pre: ConnectwisePluginPre<CallState>,
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

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// What a call asks the connector to do.
enum Op {
    TestConnection,
    ListProducts,
    ListCompanies,
    ListAgreements(Option<u32>),
    Sync(SyncRequest),
}

/// What the connector answered, already in host types.
enum Output {
    Info(Result<ConnectionInfo, ConnectorError>),
    Products(Result<Vec<Product>, ConnectorError>),
    Companies(Result<Vec<Company>, ConnectorError>),
    Agreements(Result<Vec<Agreement>, ConnectorError>),
    Report(Result<SyncReport, ConnectorError>),
}

impl Runtime {
    /// Compiles (or loads from the cache) `component_bytes`, checks its
    /// contract version, links it against the sandbox and starts the epoch
    /// ticker.
    ///
    /// Compiling takes a while (seconds); call this once and share the
    /// runtime. It does not need a Tokio runtime.
    pub fn new(component_bytes: &[u8], options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let limits = options.limits;
        let mut config = Config::new();
        // Async support is always on in wasmtime 48 (`Config::async_support`
        // is a deprecated no-op); calls use `call_async`.
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        if let Some(slots) = limits.instance_pool {
            config.allocation_strategy(pooling_config(slots.max(1), limits.memory_bytes));
        }
        let engine =
            Engine::new(&config).map_err(|e| RuntimeError::Load(format!("engine: {e:#}")))?;

        let loaded = cache::load(&engine, component_bytes, options.cache_dir.as_deref())?;
        let component_type = loaded.component.component_type();
        let contract_version = check_contract(component_type.exports(&engine).map(|(n, _)| n))?;

        let mut linker: Linker<CallState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        ConnectwisePlugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(&loaded.component)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        let pre = ConnectwisePluginPre::new(instance_pre)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;

        let net = http::Net::new(http::tls_config(None)?, limits.requests_per_minute);
        let slots = limits
            .instance_pool
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1) as usize)));
        let idle = warm::IdleInstances::new(
            limits.instance_pool.unwrap_or(DEFAULT_INSTANCE_POOL) as usize
        );
        let ticks = Arc::new(AtomicU64::new(0));
        let stop_ticker = Arc::new(AtomicBool::new(false));
        start_ticker(&engine, limits.epoch_tick, &ticks, &stop_ticker)?;

        Ok(Runtime {
            engine,
            pre,
            limits,
            contract_version,
            loaded_from_cache: loaded.from_cache,
            cache_file: loaded.cache_file,
            net,
            slots,
            idle,
            ticks,
            stop_ticker,
        })
    }

    /// Whether the compiled component came from the cache (no compilation).
    pub fn loaded_from_cache(&self) -> bool {
        self.loaded_from_cache
    }

    /// The cache file of the compiled component, when there is one.
    pub fn cache_file(&self) -> Option<&Path> {
        self.cache_file.as_deref()
    }

    /// The contract version the component was built against, e.g. `0.1.0`.
    pub fn contract_version(&self) -> &str {
        &self.contract_version
    }

    /// The sandbox's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Drops the instances kept for reuse ([`warm`]): a caller done with a
    /// batch of calls (a sync run) frees their memory and pool slots, and
    /// the connection keys they saw, rather than keep them until the next
    /// call evicts them.
    pub fn drop_idle_instances(&self) {
        drop(self.idle.clear());
    }

    /// Outbound connections opened and reused so far, all calls together.
    pub fn connection_stats(&self) -> ConnectionStats {
        self.net.pool.stats()
    }

    /// `test-connection`: checks the site, keys, company id and client id.
    pub async fn test_connection(
        &self,
        site: &SitePolicy,
        conn: &Connection,
    ) -> Result<Call<Result<ConnectionInfo, ConnectorError>>, RuntimeError> {
        let call = self
            .run(site, conn, Op::TestConnection, None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Info(v) => v,
            _ => unreachable!("test-connection answers with connection info"),
        }))
    }

    /// `list-products`: every catalog item.
    pub async fn list_products(
        &self,
        site: &SitePolicy,
        conn: &Connection,
    ) -> Result<Call<Result<Vec<Product>, ConnectorError>>, RuntimeError> {
        let call = self
            .run(site, conn, Op::ListProducts, None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Products(v) => v,
            _ => unreachable!("list-products answers with products"),
        }))
    }

    /// `list-companies`: every company that is not deleted.
    pub async fn list_companies(
        &self,
        site: &SitePolicy,
        conn: &Connection,
    ) -> Result<Call<Result<Vec<Company>, ConnectorError>>, RuntimeError> {
        let call = self
            .run(site, conn, Op::ListCompanies, None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Companies(v) => v,
            _ => unreachable!("list-companies answers with companies"),
        }))
    }

    /// `list-agreements`: every agreement, or one company's.
    pub async fn list_agreements(
        &self,
        site: &SitePolicy,
        conn: &Connection,
        company: Option<u32>,
    ) -> Result<Call<Result<Vec<Agreement>, ConnectorError>>, RuntimeError> {
        let call = self
            .run(site, conn, Op::ListAgreements(company), None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Agreements(v) => v,
            _ => unreachable!("list-agreements answers with agreements"),
        }))
    }

    /// `sync-organization`: makes one agreement's additions match the counts.
    ///
    /// A call that did not complete says what it had sent by then
    /// ([`CallFailed`]).
    pub async fn sync_organization(
        &self,
        site: &SitePolicy,
        conn: &Connection,
        request: &SyncRequest,
    ) -> Result<Call<Result<SyncReport, ConnectorError>>, CallFailed> {
        self.sync_organization_journaled(site, conn, request, None)
            .await
    }

    /// [`Runtime::sync_organization`], recording every write in `journal`
    /// before it is sent ([`journal`]); each write's exchange carries its
    /// entry's id.
    pub async fn sync_organization_journaled(
        &self,
        site: &SitePolicy,
        conn: &Connection,
        request: &SyncRequest,
        journal: Option<Arc<dyn WriteJournal>>,
    ) -> Result<Call<Result<SyncReport, ConnectorError>>, CallFailed> {
        // `run` checks the report against the request (`check_report`).
        let call = self
            .run(site, conn, Op::Sync(request.clone()), journal)
            .await?;
        Ok(call.map(|o| match o {
            Output::Report(v) => v,
            _ => unreachable!("sync-organization answers with a report"),
        }))
    }

    /// Runs one operation, in an idle instance of the same connection
    /// ([`warm`]) or a new one.
    async fn run(
        &self,
        site: &SitePolicy,
        conn: &Connection,
        op: Op,
        journal: Option<Arc<dyn WriteJournal>>,
    ) -> Result<Call<Output>, CallFailed> {
        let started = Instant::now();
        let _slot = match &self.slots {
            Some(slots) => Some(
                slots
                    .acquire()
                    .await
                    .expect("the semaphore is never closed"),
            ),
            None => None,
        };
        let sender = self.net.sender(site)?;
        let limits = &self.limits;
        let key = warm::WarmKey::new(site, conn);
        let warm = self.idle.take(&key);
        // The redactor depends on the connection only, as the key does.
        let redactor = match &warm {
            Some(warm) => warm.redactor.clone(),
            None => Arc::new(redactor_for(conn)),
        };
        let record = Arc::new(Mutex::new(http::HttpRecord::default()));
        let abort = Arc::new(http::CallAbort::default());
        let hooks = http::HttpHooks {
            abort: abort.clone(),
            journal,
            policy: site.clone(),
            sender,
            limits: limits.http(),
            record: record.clone(),
            redactor: redactor.clone(),
            read_only: matches!(&op, Op::Sync(request) if request.dry_run),
        };
        let log = LogCollector::new(
            limits.max_log_lines,
            limits.max_log_line_bytes,
            redactor.clone(),
        );
        let cpu = CpuMeter::new(self.ticks.clone(), limits.cpu_ticks());

        let (mut store, plugin, stdout, stderr, calls) = match warm {
            Some(warm) => {
                let mut store = warm.store;
                // Everything that belongs to one call is replaced; the
                // instance, its memory and its stdio pipes stay.
                let state = store.data_mut();
                state.hooks = hooks;
                state.cpu = cpu;
                state.log = Some(log);
                state.limiter.hit = false;
                (
                    store,
                    Some(warm.plugin),
                    warm.stdout,
                    warm.stderr,
                    warm.calls,
                )
            }
            None => {
                let in_use = match &self.slots {
                    Some(slots) => {
                        self.limits.instance_pool.unwrap_or(1) as usize - slots.available_permits()
                    }
                    None => 0,
                };
                // Dropped here, before the new instance takes a slot.
                drop(self.idle.make_room(in_use.saturating_sub(1)));
                let stdout = CappedPipe::new(limits.max_stdio_bytes);
                let stderr = CappedPipe::new(limits.max_stdio_bytes);
                let store = self.new_store(&stdout, &stderr, hooks, cpu, log);
                (store, None, stdout, stderr, 0)
            }
        };
        store.set_epoch_deadline(1);

        let wit_conn = bindings::connection(conn);
        let call = tokio::time::timeout(limits.wall_clock, async {
            let plugin = match plugin {
                Some(plugin) => plugin,
                None => self.pre.instantiate_async(&mut store).await?,
            };
            let output =
                invoke(plugin.seatsync_psa_connector(), &mut store, &wit_conn, &op).await?;
            wasmtime::Result::<_>::Ok((plugin, output))
        });
        // A request that failed in a way no retry changes ends the call now,
        // rather than after the connector's back-off.
        let outcome = tokio::select! {
            outcome = call => outcome,
            reason = abort.aborted() => {
                drop(store);
                // The caller reports the error; this is for tracing only.
                tracing::debug!(error = %reason, "connector call ended by the host");
                return Err(failed(reason, &record));
            }
        };

        let state = store.data_mut();
        let mut log = state.log.take().expect("the log is taken once");
        let (out, dropped_out) = stdout.take();
        let (err, dropped_err) = stderr.take();
        for (bytes, dropped, source, level) in [
            (out, dropped_out, LogSource::Stdout, LogLevel::Info),
            (err, dropped_err, LogSource::Stderr, LogLevel::Warn),
        ] {
            for line in String::from_utf8_lossy(&bytes).lines() {
                if !line.trim().is_empty() {
                    log.push(source, level, line);
                }
            }
            if dropped > 0 {
                log.push(
                    LogSource::Host,
                    LogLevel::Warn,
                    &format!("{dropped} more bytes of {source:?} were dropped"),
                );
            }
        }
        let log = log.finish();
        let memory_hit = state.limiter.hit;
        let cpu_spent = state.cpu.charged > state.cpu.budget;

        let value = match outcome {
            Err(_elapsed) => {
                drop(store);
                tracing::warn!(limit = ?limits.wall_clock, "connector call hit the wall-clock limit");
                return Err(failed(
                    RuntimeError::WallClock {
                        limit: limits.wall_clock,
                    },
                    &record,
                ));
            }
            Ok(Err(e)) => {
                drop(store);
                let error = classify(e, memory_hit, cpu_spent, limits, &log);
                tracing::warn!(%error, "connector call failed");
                return Err(failed(error, &record));
            }
            Ok(Ok((plugin, value))) => {
                if let (Op::Sync(request), Output::Report(Ok(report))) = (&op, &value)
                    && let Err(error) = check_report(report, request)
                {
                    drop(store);
                    tracing::warn!(%error, "connector call failed");
                    return Err(failed(error, &record));
                }
                // Only an instance that returned normally, with a valid
                // answer and no request still pending, is kept.
                let warm = warm::Warm {
                    key,
                    store,
                    plugin,
                    stdout,
                    stderr,
                    redactor,
                    calls: calls + 1,
                };
                let pending = http::lock(&record).in_flight;
                if pending == 0 && warm.reusable(limits.memory_bytes) {
                    drop(self.idle.put(warm));
                }
                value.capped(limits.max_log_line_bytes)
            }
        };
        let record = http::take(&record);
        let mut log = log;
        if record.dropped > 0 {
            log.push(LogLine {
                level: LogLevel::Warn,
                source: LogSource::Host,
                message: format!(
                    "{} more exchanges were not kept (the host keeps {} per call)",
                    record.dropped, limits.max_exchanges
                ),
            });
        }
        Ok(Call {
            value,
            log,
            exchanges: record.exchanges,
            requests: record.requests,
            writes: record.writes,
            elapsed: started.elapsed(),
        })
    }

    /// A new store for one instance: its WASI context (no preopens, no
    /// environment, no arguments, no sockets; stdout and stderr into the
    /// given pipes), the memory limiter and the CPU meter's epoch callback.
    fn new_store(
        &self,
        stdout: &CappedPipe,
        stderr: &CappedPipe,
        hooks: http::HttpHooks,
        cpu: CpuMeter,
        log: LogCollector,
    ) -> Store<CallState> {
        // Outbound HTTP goes through `wasi:http` and the hooks only.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = CallState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks,
            limiter: MemoryLimiter::new(self.limits.memory_bytes),
            cpu,
            log: Some(log),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_callback(|mut cx| {
            cx.data_mut()
                .cpu
                .on_deadline()
                .map_err(wasmtime::Error::new)?;
            // Yield every tick, so that the wall-clock timeout (and other
            // tasks on this thread) get a turn even during a busy loop.
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }
}

/// `error`, with what the call's record says it sent.
fn failed(error: RuntimeError, record: &Mutex<http::HttpRecord>) -> CallFailed {
    let record = http::take(record);
    CallFailed {
        error,
        requests: record.requests,
        writes: record.writes,
        exchanges: record.exchanges,
    }
}

/// Calls the export for `op` and converts the answer to host types.
async fn invoke(
    guest: &ConnectorExports,
    store: &mut Store<CallState>,
    conn: &bindings::seatsync::psa::types::Connection,
    op: &Op,
) -> wasmtime::Result<Output> {
    use bindings::{convert, convert_list};
    Ok(match op {
        Op::TestConnection => Output::Info(convert(guest.call_test_connection(store, conn).await?)),
        Op::ListProducts => {
            Output::Products(convert_list(guest.call_list_products(store, conn).await?))
        }
        Op::ListCompanies => {
            Output::Companies(convert_list(guest.call_list_companies(store, conn).await?))
        }
        Op::ListAgreements(company) => Output::Agreements(convert_list(
            guest.call_list_agreements(store, conn, *company).await?,
        )),
        Op::Sync(request) => {
            let request = bindings::sync_request(request);
            Output::Report(convert(
                guest.call_sync_organization(store, conn, &request).await?,
            ))
        }
    })
}

/// Names the limit a failed call hit, or reports the trap.
fn classify(
    e: wasmtime::Error,
    memory_hit: bool,
    cpu_spent: bool,
    limits: &Limits,
    log: &[LogLine],
) -> RuntimeError {
    let is = |pred: &dyn Fn(&(dyn std::error::Error + 'static)) -> bool| e.chain().any(pred);
    if memory_hit || is(&|c| c.is::<MemoryLimitExceeded>()) {
        return RuntimeError::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        };
    }
    if cpu_spent || is(&|c| c.is::<CpuLimitExceeded>()) {
        return RuntimeError::CpuLimit {
            budget: limits.epoch_tick * u32::try_from(limits.cpu_ticks()).unwrap_or(u32::MAX),
        };
    }
    // The root cause (`wasm trap: …`), not `{e:#}`: that adds a multi-line
    // backtrace of unnamed functions. A panic's message is on stderr.
    tracing::debug!(error = %format!("{e:#}"), "connector trap");
    let mut message = e.root_cause().to_string();
    let stderr: Vec<&str> = log
        .iter()
        .filter(|l| l.source == LogSource::Stderr)
        .map(|l| l.message.as_str())
        .collect();
    if !stderr.is_empty() {
        let last = stderr[stderr.len().saturating_sub(3)..].join(" ");
        message.push_str("; its stderr ended with: ");
        message.push_str(&cap(last, 1024));
    }
    RuntimeError::Trap(message)
}

/// Checks that a sync report answers `request`: one line per request line,
/// for the same package and product, in order. Anything else (a hostile or
/// broken component returning a million lines) is refused before it reaches
/// history.
fn check_report(report: &SyncReport, request: &SyncRequest) -> Result<(), RuntimeError> {
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
fn cap(mut text: String, max: usize) -> String {
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
    fn capped(self, max: usize) -> Output {
        use seatsync_plugin::model::LineOutcome;
        let err = |e| cap_error(e, max);
        match self {
            Output::Info(v) => Output::Info(v.map_err(err)),
            Output::Products(v) => Output::Products(v.map_err(err)),
            Output::Companies(v) => Output::Companies(v.map_err(err)),
            Output::Agreements(v) => Output::Agreements(v.map_err(err)),
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

/// The default number of instance slots of the pooling allocator: more than
/// the organizations a host syncs at once.
pub const DEFAULT_INSTANCE_POOL: u32 = 16;

/// How much of a call's linear memory stays resident in its slot after the
/// call: the pages the call dirtied within it are reset in place (found with
/// `PAGEMAP_SCAN`) instead of being dropped and faulted in again by the next
/// call. The connector touches less than this; see `docs/performance.md`.
const MEMORY_KEEP_RESIDENT: usize = 4 * 1024 * 1024;

/// The same for each table (a few KiB for the connector).
const TABLE_KEEP_RESIDENT: usize = 64 * 1024;

/// Slots returned per batched `process_madvise` (one system call and one TLB
/// shootdown for the batch instead of several per call).
const DECOMMIT_BATCH: usize = 16;

/// The pooling allocator's settings for `slots` concurrent calls.
fn pooling_config(slots: u32, memory_bytes: usize) -> wasmtime::InstanceAllocationStrategy {
    let mut pooling = wasmtime::PoolingAllocationConfig::default();
    pooling
        .total_component_instances(slots)
        .total_core_instances(slots * 16)
        .total_memories(slots * 2)
        .total_tables(slots * 16)
        .total_stacks(slots)
        .max_memory_size(memory_bytes)
        // Per-call reset costs (see `docs/performance.md`): batched
        // decommits, and memory and tables reset in place rather than
        // decommitted and faulted back in. `Auto`: kernels without
        // `PAGEMAP_SCAN` (before 6.7) keep the previous behaviour.
        .decommit_batch_size(DECOMMIT_BATCH)
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT);
    wasmtime::InstanceAllocationStrategy::Pooling(pooling)
}

/// The secrets of a connection: the private key, and the `Authorization`
/// value the connector builds from it.
fn redactor_for(conn: &Connection) -> Redactor {
    let mut secrets = vec![
        conn.private_key.clone(),
        conn.private_key.trim().to_string(),
    ];
    if let Ok(endpoint) = seatsync_plugin::connection::Endpoint::new(conn) {
        for header in endpoint.headers() {
            if header.name.eq_ignore_ascii_case("authorization") {
                let value = header.wire_value();
                secrets.push(value.to_string());
                if let Some(encoded) = value.strip_prefix("Basic ") {
                    secrets.push(encoded.to_string());
                }
            }
        }
    }
    Redactor::new(secrets)
}

/// Starts the thread that advances the engine's epoch every `tick`. It stops
/// when the runtime is dropped.
///
/// A thread rather than a Tokio task: the runtime does not depend on the
/// Tokio runtime it was created on staying alive.
fn start_ticker(
    engine: &Engine,
    tick: Duration,
    ticks: &Arc<AtomicU64>,
    stop: &Arc<AtomicBool>,
) -> Result<(), RuntimeError> {
    let engine = engine.weak();
    let ticks = Arc::downgrade(ticks);
    let stop = stop.clone();
    let tick = tick.max(Duration::from_millis(1));
    std::thread::Builder::new()
        .name("seatsync-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let (Some(engine), Some(ticks)) = (engine.upgrade(), ticks.upgrade()) else {
                    return;
                };
                engine.increment_epoch();
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
        .map(drop)
        .map_err(|e| RuntimeError::Load(format!("cannot start the epoch ticker: {e}")))
}
