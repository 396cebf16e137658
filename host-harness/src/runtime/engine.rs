//! Building a [`Runtime`]: the engine, the component and the epoch ticker.
//!
//! [`Runtime::new`] configures the wasmtime engine (epoch interruption, the
//! pooling allocator of [`Limits::instance_pool`]),
//! compiles or loads the component ([`super::cache`]), checks its contract
//! version, links it against WASI, `wasi:http` and the host's imports, and
//! starts the thread that ticks the epoch, which the runtime's `Drop` stops.
//! The accessors report how the runtime was built and what it shares
//! between calls.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use seatsync_contract::{ConnectorDescription, Settings};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

use super::contract::{ContractVersion, Op, Output, PluginPre};
use super::limits::pooling_config;
use super::policy::NetworkPolicy;
use super::sandbox::CallState;
use super::{
    ConnectionStats, DEFAULT_INSTANCE_POOL, Limits, Runtime, RuntimeError, RuntimeOptions, cache,
    check_contract, http, warm,
};

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
        let version = ContractVersion::for_version(&contract_version)
            .expect("check_contract accepts only versions with bindings");

        let mut linker: Linker<CallState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        let pre = PluginPre::new(version, &mut linker, &loaded.component)?;

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
            version,
            description: tokio::sync::OnceCell::new(),
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

    /// What the connector is and needs (its `describe`; for a 0.1
    /// component, what the 0.1 contract specifies). Asked once, then kept.
    pub async fn describe(&self) -> Result<ConnectorDescription, RuntimeError> {
        self.description
            .get_or_try_init(|| async {
                // Boxed: a call asks for the description first (to know
                // which settings to redact), and this is a call.
                let call = Box::pin(self.run(
                    &NetworkPolicy::nowhere(),
                    &Settings::new(),
                    Op::Describe,
                    None,
                ))
                .await
                .map_err(|f| f.error)?;
                match call.value {
                    Output::Description(d) => Ok(d),
                    _ => unreachable!("describe answers with a description"),
                }
            })
            .await
            .cloned()
    }

    /// The sandbox's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The PSA's answers to this runtime's requests so far, and how many of
    /// them were 429 (too many requests), every site together.
    pub fn http_answers(&self) -> (u64, u64) {
        self.net.pacer.counts()
    }

    /// Drops the instances kept for reuse (`runtime/warm.rs`): a caller done with a
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
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
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
