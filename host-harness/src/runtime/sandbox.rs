//! One call's sandbox: the store's data (WASI context without files,
//! environment, arguments or sockets; the HTTP hooks; the memory limiter;
//! the CPU meter) and the bounded collection of what the guest logs.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use serde::Serialize;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::http::HttpHooks;

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail, e.g. each exchange's summary.
    Debug,
    /// Normal operation.
    Info,
    /// Something an operator may want to look at (retries, stderr output).
    Warn,
    /// A failure.
    Error,
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LogSource {
    /// The connector's `log.emit`.
    Connector,
    /// A line the component wrote to stdout.
    Stdout,
    /// A line the component wrote to stderr.
    Stderr,
    /// A note from the host about the call (e.g. lines dropped at the cap).
    Host,
}

/// One log line of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// Where it came from.
    pub source: LogSource,
    /// The text, one line, truncated to the host's cap and with the call's
    /// secrets replaced by `[redacted]`.
    pub message: String,
}

/// Replaces the call's secrets (the private key and the `Authorization`
/// value built from it) in text the guest produced, as a second line of
/// defence behind the connector's own care.
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    /// One searcher per secret, longest secret first.
    secrets: Vec<memchr::memmem::Finder<'static>>,
}

/// Shorter secrets are not searched for: redacting every `a` would destroy
/// the log without protecting anything real.
const MIN_SECRET_LEN: usize = 6;

/// What a secret is replaced with.
const REDACTED: &str = "[redacted]";

impl Redactor {
    pub(crate) fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        // Searchers built once: every exchange and log line of a call is
        // searched for every secret.
        let secrets = secrets
            .iter()
            .map(|s| memchr::memmem::Finder::new(s.as_bytes()).into_owned())
            .collect();
        Redactor { secrets }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if secret.find(out.as_bytes()).is_none() {
                continue;
            }
            let mut replaced = String::with_capacity(out.len());
            let mut rest = 0;
            for at in secret.find_iter(out.as_bytes()) {
                // Matches of one needle do not overlap and lie on char
                // boundaries: the needle is valid UTF-8, as is the text.
                replaced.push_str(&out[rest..at]);
                replaced.push_str(REDACTED);
                rest = at + secret.needle().len();
            }
            replaced.push_str(&out[rest..]);
            out = replaced;
        }
        out
    }
}

/// Collects a call's log lines, up to a number of lines of a bounded length.
pub(crate) struct LogCollector {
    lines: Vec<LogLine>,
    dropped: usize,
    max_lines: usize,
    max_line_bytes: usize,
    redactor: Arc<Redactor>,
}

impl LogCollector {
    pub(crate) fn new(max_lines: usize, max_line_bytes: usize, redactor: Arc<Redactor>) -> Self {
        LogCollector {
            lines: Vec::new(),
            dropped: 0,
            max_lines,
            max_line_bytes,
            redactor,
        }
    }

    /// Adds a line and forwards it to `tracing`; past the cap, counts it only.
    pub(crate) fn push(&mut self, source: LogSource, level: LogLevel, message: &str) {
        if self.lines.len() >= self.max_lines {
            if self.dropped == 0 {
                tracing::warn!(
                    target: "seatsync::connector",
                    max = self.max_lines,
                    "the connector logged more lines than the host keeps; dropping the rest"
                );
            }
            self.dropped += 1;
            return;
        }
        let message = self
            .redactor
            .redact(&truncate(message, self.max_line_bytes.saturating_add(64)));
        let message = truncate(&message, self.max_line_bytes);
        forward(source, level, &message);
        self.lines.push(LogLine {
            level,
            source,
            message,
        });
    }

    /// The lines, with a last line saying how many were dropped, if any.
    pub(crate) fn finish(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            self.lines.push(LogLine {
                level: LogLevel::Warn,
                source: LogSource::Host,
                message: format!(
                    "{} more log lines were dropped (the host keeps {} per call)",
                    self.dropped, self.max_lines
                ),
            });
        }
        self.lines
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the
/// cut, and makes it one line.
///
/// Every log line of every call passes here twice, so it copies the text
/// once and replaces line breaks in place rather than re-collecting it a
/// character at a time (that showed in the profile of a re-sync).
fn truncate(text: &str, max: usize) -> String {
    let fits = text.len() <= max;
    let end = if fits {
        text.len()
    } else {
        let mut end = max.saturating_sub('…'.len_utf8());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        end
    };
    let mut line = text[..end].to_string();
    if memchr::memchr2(b'\n', b'\r', line.as_bytes()).is_some() {
        // Both are single bytes that never occur inside a multi-byte
        // character, so replacing them keeps the text valid UTF-8.
        line = line.replace(['\n', '\r'], " ");
    }
    if !fits {
        line.push('…');
    }
    line
}

fn forward(source: LogSource, level: LogLevel, message: &str) {
    macro_rules! emit {
        ($lvl:expr) => {
            tracing::event!(target: "seatsync::connector", $lvl, source = ?source, "{message}")
        };
    }
    match level {
        LogLevel::Trace => emit!(tracing::Level::TRACE),
        LogLevel::Debug => emit!(tracing::Level::DEBUG),
        LogLevel::Info => emit!(tracing::Level::INFO),
        LogLevel::Warn => emit!(tracing::Level::WARN),
        LogLevel::Error => emit!(tracing::Level::ERROR),
    }
}

/// stdout or stderr of the component: kept in memory up to a cap; what goes
/// over the cap is dropped silently (an error would make Rust's `println!`
/// panic, which aborts the guest).
#[derive(Clone)]
pub(crate) struct CappedPipe {
    inner: Arc<Mutex<PipeBuffer>>,
}

#[derive(Default)]
struct PipeBuffer {
    bytes: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl CappedPipe {
    pub(crate) fn new(cap: usize) -> Self {
        CappedPipe {
            inner: Arc::new(Mutex::new(PipeBuffer {
                cap,
                ..PipeBuffer::default()
            })),
        }
    }

    /// What was written (up to the cap) and how many bytes were dropped
    /// since the last `take`; the pipe starts empty again.
    pub(crate) fn take(&self) -> (Vec<u8>, u64) {
        let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (std::mem::take(&mut b.bytes), std::mem::take(&mut b.dropped))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = b.cap.saturating_sub(b.bytes.len());
        let kept = room.min(buf.len());
        b.bytes.extend_from_slice(&buf[..kept]);
        b.dropped += (buf.len() - kept) as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The error a memory growth over the cap traps with.
#[derive(Debug, thiserror::Error)]
#[error("the component tried to grow its memory to {desired} bytes, over the limit of {limit}")]
pub(crate) struct MemoryLimitExceeded {
    pub(crate) limit: usize,
    pub(crate) desired: usize,
}

/// The error the epoch callback traps with once the CPU budget is spent.
#[derive(Debug, thiserror::Error)]
#[error("the component ran for more than its CPU budget of {ticks} epoch ticks")]
pub(crate) struct CpuLimitExceeded {
    pub(crate) ticks: u64,
}

/// [`StoreLimits`] that traps (rather than failing `memory.grow`) when the
/// memory cap is hit, so the call fails with an error that names the limit.
pub(crate) struct MemoryLimiter {
    inner: StoreLimits,
    limit: usize,
    /// Whether a growth over the limit was refused.
    pub(crate) hit: bool,
    /// The largest size a memory was allowed to grow to.
    pub(crate) grown_to: usize,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> Self {
        MemoryLimiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(limit)
                .instances(64)
                .tables(64)
                .memories(16)
                .table_elements(1 << 20)
                .build(),
            limit,
            hit: false,
            grown_to: 0,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.grown_to = self.grown_to.max(desired);
        }
        if !allowed && desired > self.limit {
            self.hit = true;
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
                desired,
            }));
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Counts the epoch ticks during which the guest kept running.
///
/// The deadline is one tick ahead, so the epoch callback runs at the first
/// check in wasm code after each tick. If the previous callback ran in the
/// tick just before, the guest ran through the whole tick and it is
/// charged; if more ticks passed, the guest was waiting in the host (an HTTP
/// response, a sleep) and nothing is charged. A busy loop is thus charged
/// every tick, a guest waiting on ConnectWise almost nothing.
pub(crate) struct CpuMeter {
    ticks: Arc<AtomicU64>,
    last_seen: u64,
    pub(crate) charged: u64,
    pub(crate) budget: u64,
}

impl CpuMeter {
    pub(crate) fn new(ticks: Arc<AtomicU64>, budget: u64) -> Self {
        let last_seen = ticks.load(Ordering::Relaxed);
        CpuMeter {
            ticks,
            last_seen,
            charged: 0,
            budget,
        }
    }

    /// Called at each deadline; an error once the budget is spent.
    pub(crate) fn on_deadline(&mut self) -> Result<(), CpuLimitExceeded> {
        let now = self.ticks.load(Ordering::Relaxed);
        if now <= self.last_seen + 1 {
            self.charged += 1;
        }
        self.last_seen = now;
        if self.charged > self.budget {
            Err(CpuLimitExceeded { ticks: self.budget })
        } else {
            Ok(())
        }
    }
}

/// The data of one call's `Store`.
pub(crate) struct CallState {
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: HttpHooks,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) cpu: CpuMeter,
    pub(crate) log: Option<LogCollector>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl CallState {
    /// A line the connector logged (each contract version's `log.emit`).
    pub(crate) fn emit(&mut self, level: LogLevel, message: &str) {
        if let Some(log) = self.log.as_mut() {
            log.push(LogSource::Connector, level, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_every_secret_is_redacted() {
        let r = Redactor::new([
            "s3cr3t-key".to_string(),
            "Basic czNjcjN0LWtleQ==".to_string(),
        ]);
        assert_eq!(
            r.redact(
                "k=s3cr3t-key, again s3cr3t-keys3cr3t-key; Authorization: Basic czNjcjN0LWtleQ=="
            ),
            "k=[redacted], again [redacted][redacted]; Authorization: [redacted]"
        );
        assert_eq!(r.redact("nothing here é"), "nothing here é");
    }

    #[test]
    fn a_secret_containing_another_is_replaced_whole() {
        let r = Redactor::new(["abcdef".to_string(), "xxabcdefyy".to_string()]);
        assert_eq!(
            r.redact("1 xxabcdefyy 2 abcdef"),
            "1 [redacted] 2 [redacted]"
        );
    }

    #[test]
    fn log_lines_become_one_line_cut_on_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a\nb\r\nc", 10), "a b  c");
        assert_eq!(truncate("0123456789", 10), "0123456789");
        // '…' takes 3 of the 10 bytes.
        assert_eq!(truncate("0123456789a", 10), "0123456…");
        // 'é' is 2 bytes: the cut moves back rather than split it.
        assert_eq!(truncate("012345éxyz", 10), "012345…");
        assert_eq!(truncate("01\n3456789abc", 10), "01 3456…");
        assert!(truncate(&"é\n".repeat(100), 64).len() <= 64);
    }

    #[test]
    fn short_secrets_are_not_searched_for() {
        let r = Redactor::new(["abc".to_string()]);
        assert_eq!(r.redact("abc"), "abc");
    }
}
