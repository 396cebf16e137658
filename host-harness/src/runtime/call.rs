//! One call of the connector, from a pool slot to its [`Call`].
//!
//! [`Runtime::run`] is the single path every operation takes: it waits for
//! an instance slot, takes an idle instance of the same connection or builds
//! a new store ([`Runtime::new_store`]: the WASI context, the memory limiter
//! and the CPU meter), calls the export (`contract::invoke`, for the
//! component's contract version) under the wall-clock
//! limit, collects the log, stdio and HTTP record, names the limit or trap
//! of a call that failed ([`classify`]), checks the answer ([`super::answer`])
//! and keeps a clean instance for reuse ([`warm`]). [`Op`] and [`Output`]
//! are what a call asks and answers, in host types; [`Call`] is what the
//! caller gets back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seatsync_contract::Settings;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;

use super::answer::{cap, check_report};
use super::contract::{self, Op, Output};
use super::error::failed;
use super::http::{self, Exchange};
use super::journal::WriteJournal;
use super::policy::NetworkPolicy;
use super::sandbox::{
    CallState, CappedPipe, CpuLimitExceeded, CpuMeter, LogCollector, LogLevel, LogLine, LogSource,
    MemoryLimitExceeded, MemoryLimiter,
};
use super::secrets::redactor_for;
use super::{CallFailed, Limits, Runtime, RuntimeError, warm};

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
    /// A call the host answered itself, without the connector: no request,
    /// no log. (A gated sync with nothing left to send, `crate::sync`.)
    pub fn without_requests(value: T) -> Call<T> {
        Call {
            value,
            log: Vec::new(),
            exchanges: Vec::new(),
            requests: 0,
            writes: 0,
            elapsed: Duration::ZERO,
        }
    }

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

impl Runtime {
    /// Runs one operation, in an idle instance of the same connection
    /// ([`warm`]) or a new one.
    pub(super) async fn run(
        &self,
        policy: &NetworkPolicy,
        settings: &Settings,
        op: Op<'_>,
        journal: Option<Arc<dyn WriteJournal>>,
    ) -> Result<Call<Output>, CallFailed> {
        let started = Instant::now();
        if let Some(error) = contract::not_in_contract(self.version, &op) {
            return Err(error.into());
        }
        // What a contract version lets the host answer itself (0.1 cannot
        // describe itself) needs no instance.
        if let Some(value) = contract::answered_by_host(self.version, settings, &op) {
            return Ok(Call {
                value,
                log: Vec::new(),
                exchanges: Vec::new(),
                requests: 0,
                writes: 0,
                elapsed: started.elapsed(),
            });
        }
        // Which settings are secret, for the redactor of a new instance:
        // the description, asked once per runtime and itself a call (with
        // no settings to hide), so asked before this call takes a slot.
        if !matches!(op, Op::Describe) && self.description.get().is_none() {
            self.describe().await.map_err(CallFailed::from)?;
        }
        let _slot = match &self.slots {
            Some(slots) => Some(
                slots
                    .acquire()
                    .await
                    .expect("the semaphore is never closed"),
            ),
            None => None,
        };
        let sender = self.net.sender(policy)?;
        let limits = &self.limits;
        let warm = self.idle.take(policy, settings);
        // The redactor depends on the settings and the policy only, as the
        // key does: a kept instance has it (and the description is not
        // cloned for it on every call).
        let redactor = match (&warm, self.description.get()) {
            (Some(warm), _) => warm.redactor.clone(),
            (None, Some(description)) => Arc::new(redactor_for(settings, description, policy)),
            (None, None) => Arc::new(super::sandbox::Redactor::new(Vec::new())),
        };
        let record = Arc::new(Mutex::new(http::HttpRecord::default()));
        let abort = Arc::new(http::CallAbort::default());
        let hooks = http::HttpHooks {
            abort: abort.clone(),
            journal,
            policy: policy.clone(),
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

        let (mut store, plugin, stdout, stderr, calls, key) = match warm {
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
                    warm.key,
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
                // Built once per instance: a kept instance keeps its key.
                let key = warm::WarmKey::new(policy, settings);
                (store, None, stdout, stderr, 0, key)
            }
        };
        store.set_epoch_deadline(1);

        let call = tokio::time::timeout(limits.wall_clock, async {
            let plugin = match plugin {
                Some(plugin) => plugin,
                None => match self.pre.instantiate(&mut store).await {
                    Ok(plugin) => plugin,
                    // The room made above is sized from the permits in
                    // use, read apart from the idle list: a call finishing
                    // on another thread in between can leave one instance
                    // too many (seen once under CI load). Drop every idle
                    // instance and try once more; a pool really full of
                    // running calls fails the same way again.
                    Err(e)
                        if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                            .is_some() =>
                    {
                        tracing::debug!(error = %e, "the instance pool was full: dropping idle instances");
                        drop(self.idle.clear());
                        tokio::task::yield_now().await;
                        self.pre.instantiate(&mut store).await?
                    }
                    Err(e) => return Err(e),
                },
            };
            let output = contract::invoke(&plugin, &mut store, settings, &op).await?;
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
