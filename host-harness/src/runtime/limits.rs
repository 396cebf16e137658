//! The sandbox's limits, and how to build a runtime.
//!
//! [`Limits`] holds every cap a call runs under: memory, CPU budget, wall
//! clock, HTTP timeouts and response size, how many log lines, stdio bytes
//! and exchanges are kept, the requests a minute to one site and the
//! instance slots. [`RuntimeOptions`] adds where compiled components are
//! cached.
//! The pooling allocator's settings are here too, because they are sized
//! from these limits ([`Limits::instance_pool`], [`Limits::memory_bytes`]);
//! their constants are tuned for the connector's per-call reset cost (see
//! `docs/performance.md`).

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use super::http;
use super::pacing::DEFAULT_REQUESTS_PER_MINUTE;

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

/// How to build a [`Runtime`](super::Runtime).
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// The sandbox's limits.
    pub limits: Limits,
    /// Where compiled components are cached (`<dir>/seatsync-connector-<key>.cwasm`).
    /// `None` compiles on every start. The directory must be writable by
    /// the host's user only: its files are loaded as native code.
    pub cache_dir: Option<PathBuf>,
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
pub(super) fn pooling_config(
    slots: u32,
    memory_bytes: usize,
) -> wasmtime::InstanceAllocationStrategy {
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
