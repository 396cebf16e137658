//! The sync benchmark: `cargo bench -p seatsync-host --bench sync`.
//!
//! Starts the ConnectWise simulator on loopback in a child process (so the
//! host's peak memory is the host's alone) with a generated tenant of N
//! organizations × 3 packages, sets up a temporary SQLite store, and for
//! N = 1,000 and 10,000 (or `SEATSYNC_BENCH_ORGS=1000,10000`) prints: the
//! first sync (creating), a re-sync (nothing changed) and a sync after 10%
//! of the counts changed, each with wall time, organizations per second,
//! requests and writes per organization and peak memory; then the
//! sandboxed/native throughput ratio on the same re-sync. Before that: the
//! component's cold compile time, cached load time and per-call
//! instantiation cost.
//!
//! Pacing is off (unlimited): this measures the host, not ConnectWise's
//! throttle. Concurrency: `SEATSYNC_CONCURRENCY` (default 8). The pooling
//! A compile cache kept between runs (so that a profiler sees the syncs,
//! not the compiler): `SEATSYNC_BENCH_CACHE_DIR`. The pooling
//! allocator's slots: `SEATSYNC_BENCH_POOLING` (default 16, `off`). The
//! SQLite file's directory: `SEATSYNC_BENCH_DB_DIR` (default a temp dir).
//!
//! Last, a throttled phase: a simulator that answers 429 to each request
//! past N in a one-second window (`Retry-After: 1`), and the host with
//! pacing ON at its default ceiling (900 a minute), so the per-site back-off
//! has to find the site's limit. N: `SEATSYNC_BENCH_THROTTLE` (default 5,
//! `off` skips the phase). A tenant of 30·N organizations is synced once
//! unthrottled (creating the additions), then re-synced five times in a row
//! against the limit (one GET per organization, about 150 s at N a second),
//! with the same concurrency. Prints, from the simulator's own counters and
//! log, requests served (not 429) a second as a share of N and the share of
//! requests answered 429, over the whole phase and after a 20 s warm-up,
//! and every 10 s.
//!
//! Options (instead of the full benchmark):
//! - `--throttled N`: only the throttled phase, at N requests a second.
//! - `--compare N ROUNDS`: only the sandboxed/native comparison.
//! - `--profile sandboxed|native N`: only re-syncs, for a profiler.
//!
//! Not a test: under `cargo test --benches` (no `--bench` argument) it only
//! checks that it starts.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use seatsync_contract::Settings;
use seatsync_contract::SyncRequest;
use seatsync_fixtures::{Faults, RateLimit, SimConfig, Simulator};
use seatsync_host::runtime::{Limits, NetworkPolicy, Runtime, RuntimeOptions};
use seatsync_host::store::{Store, Trigger};
use seatsync_host::sync::{SyncOptions, sync_tenant};
use tokio::task::JoinSet;

const TENANT: &str = "bench";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--simulator") {
        let orgs = args[i + 1].parse().expect("--simulator N");
        return simulator_child(orgs);
    }
    if let Some(i) = args.iter().position(|a| a == "--cold-compile") {
        return cold_compile_child(Path::new(&args[i + 1]), &args[i + 2]);
    }
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        // `--profile sandboxed|native N`: only re-syncs, for a profiler.
        let native = args[i + 1] == "native";
        let orgs: usize = args[i + 2].parse().expect("--profile sandboxed|native N");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio");
        return rt.block_on(profile(native, orgs));
    }
    if let Some(i) = args.iter().position(|a| a == "--compare") {
        // `--compare N ROUNDS`: sandboxed and native re-syncs, alternating.
        let orgs: usize = args[i + 1].parse().expect("--compare N ROUNDS");
        let rounds: usize = args[i + 2].parse().expect("--compare N ROUNDS");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio");
        return rt.block_on(compare(orgs, rounds));
    }
    if let Some(i) = args.iter().position(|a| a == "--throttled") {
        // `--throttled N`: only the throttled phase, at N requests a second.
        let limit: u32 = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .expect("--throttled N (requests a second, at least 1)");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio");
        return rt.block_on(throttled_only(limit));
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("the sync benchmark runs with `cargo bench -p seatsync-host --bench sync`");
        return;
    }
    let orgs: Vec<usize> = std::env::var("SEATSYNC_BENCH_ORGS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("SEATSYNC_BENCH_ORGS: numbers"))
        .collect();
    let concurrency: usize = std::env::var("SEATSYNC_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    // Read before the other phases, so that a bad value stops at once.
    let throttle = throttle_setting();
    rt.block_on(bench(orgs, concurrency, throttle));
}

// ---------------------------------------------------------------------------
// Child processes.

/// Serves the simulator for `orgs` organizations on one thread: prints
/// `PORT <port>`, then answers on stdin, until it closes:
/// - `counts`: `COUNTS <requests> <writes>`, and resets them (and the log);
/// - `tally`: `TALLY <requests> <writes> <answered 429>` since the last
///   `counts`, without resetting anything (so nothing is lost to a reset
///   while requests arrive);
/// - `ratelimit N`: answers 429 (`Retry-After: 1`) to each request past N
///   in a window of one second (`ratelimit off`: no limit); `OK`.
fn simulator_child(orgs: usize) {
    let sim = Simulator::start_blocking(SimConfig {
        tenant: support::tenant(orgs),
        clock: format!("{}T12:00:00Z", support::DAY),
        ..SimConfig::default()
    })
    .expect("the simulator starts");
    println!("PORT {}", sim.addr().port());
    std::io::stdout().flush().ok();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["counts"] => {
                let c = sim.counts();
                sim.reset_counts();
                // The request log is not needed; keep the child small.
                sim.clear_log();
                println!("COUNTS {} {}", c.total, c.writes);
            }
            ["tally"] => {
                // Counted from the log: every request is logged with the
                // status it was answered.
                let throttled = sim.request_log().iter().filter(|r| r.status == 429).count();
                let c = sim.counts();
                println!("TALLY {} {} {throttled}", c.total, c.writes);
            }
            ["ratelimit", "off"] => {
                sim.clear_faults();
                println!("OK");
            }
            ["ratelimit", n] => {
                let max_requests = n.parse().expect("ratelimit N");
                sim.set_faults(Faults {
                    rate_limit: Some(RateLimit {
                        max_requests,
                        window: Duration::from_secs(1),
                        retry_after_secs: 1,
                    }),
                    ..Faults::default()
                });
                println!("OK");
            }
            _ => continue,
        }
        std::io::stdout().flush().ok();
    }
}

/// Compiles the component into an empty cache dir; prints the time in µs.
fn cold_compile_child(cache_dir: &Path, pooling: &str) {
    let started = Instant::now();
    let runtime = Runtime::new(
        seatsync_host::DEFAULT_COMPONENT,
        options(cache_dir, pooling),
    )
    .expect("compiles");
    let took = started.elapsed();
    assert!(!runtime.loaded_from_cache());
    println!("COLD {} {}", took.as_micros(), vm_hwm_kib().unwrap_or(0));
}

struct SimProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    port: u16,
}

impl SimProcess {
    fn start(orgs: usize) -> SimProcess {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .args(["--simulator", &orgs.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the simulator process starts");
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the simulator answers");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .expect("PORT <port>");
        SimProcess {
            child,
            stdin,
            stdout,
            port,
        }
    }

    /// Requests and writes the simulator saw since the last call.
    fn counts(&mut self) -> (u64, u64) {
        writeln!(self.stdin, "counts").expect("the simulator listens");
        self.stdin.flush().ok();
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the simulator answers");
        let mut parts = line.split_whitespace().skip(1).map(|n| n.parse().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    }

    /// Requests and those answered 429 since the last [`SimProcess::counts`]
    /// (which resets them), as the simulator counted and logged them.
    fn tally(&mut self) -> Tally {
        writeln!(self.stdin, "tally").expect("the simulator listens");
        self.stdin.flush().ok();
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the simulator answers");
        let n: Vec<u64> = line
            .strip_prefix("TALLY ")
            .expect("TALLY <requests> <writes> <429s>")
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        Tally {
            requests: n[0],
            throttled: n[2],
        }
    }

    /// Sets the simulator's limit: N requests a second, or none.
    fn set_rate_limit(&mut self, per_second: Option<u32>) {
        let arg = per_second.map_or("off".to_string(), |n| n.to_string());
        writeln!(self.stdin, "ratelimit {arg}").expect("the simulator listens");
        self.stdin.flush().ok();
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the simulator answers");
        assert_eq!(line.trim(), "OK");
    }
}

/// Cumulative simulator counts.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    requests: u64,
    throttled: u64,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Memory.

/// The process's peak resident set (VmHWM), in KiB.
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The current resident set (VmRSS), in KiB.
fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the peak to the current resident set (Linux `clear_refs` 5);
/// false when that is not possible (then peaks are since the start).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

// ---------------------------------------------------------------------------
// The benchmark.

fn options(cache_dir: &Path, pooling: &str) -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: Some(cache_dir.to_path_buf()),
        limits: Limits {
            requests_per_minute: None,
            instance_pool: pooling.parse().ok(),
            ..Limits::default()
        },
    }
}

struct Phase {
    name: &'static str,
    wall: Duration,
    orgs: usize,
    /// The organizations' own requests.
    requests: u64,
    /// The run's check of the mapped agreements (one per 1,000).
    check_requests: u64,
    writes: u64,
    sim_requests: u64,
    failed: usize,
    peak_kib: Option<u64>,
}

async fn bench(org_counts: Vec<usize>, concurrency: usize, throttle: Option<u32>) {
    let pooling = std::env::var("SEATSYNC_BENCH_POOLING").unwrap_or_else(|_| "16".into());
    println!("# seatsync sync benchmark");
    println!(
        "loopback simulator (separate process, one thread), pacing: UNLIMITED (loopback), \
         concurrency: {concurrency}, pooling allocator: {pooling}"
    );
    let work = tempfile::tempdir().expect("temp dir");
    let cache_dir = work.path().join("cache");

    // Cold compile, in a child so its memory does not count below.
    let out = Command::new(std::env::current_exe().expect("own path"))
        .args(["--cold-compile", cache_dir.to_str().unwrap(), &pooling])
        .output()
        .expect("the compile child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let cold: Vec<u64> = text
        .trim()
        .strip_prefix("COLD ")
        .expect("COLD <µs> <KiB>")
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    println!(
        "component: cold compile (and cache write) {:.0} ms (peak {} MiB in that process)",
        cold[0] as f64 / 1000.0,
        mib(Some(cold[1]))
    );

    // Cached loads: the first one, then the best of five.
    let mut loads = Vec::new();
    for _ in 0..6 {
        let started = Instant::now();
        let runtime = Runtime::new(
            seatsync_host::DEFAULT_COMPONENT,
            options(&cache_dir, &pooling),
        )
        .expect("loads");
        loads.push(started.elapsed());
        assert!(runtime.loaded_from_cache());
    }
    let first_load = loads[0];
    loads.sort();
    println!(
        "component: cached load {:.1} ms first, {:.1} ms median of the next five (target < 50 ms)",
        ms(first_load),
        ms(loads[3])
    );
    let runtime = Arc::new(
        Runtime::new(
            seatsync_host::DEFAULT_COMPONENT,
            options(&cache_dir, &pooling),
        )
        .expect("loads"),
    );

    for orgs in org_counts {
        bench_tenant(&runtime, work.path(), orgs, concurrency).await;
    }
    println!("\nruntime connections: {:?}", runtime.connection_stats());

    if let Some(limit) = throttle {
        throttled_phase(
            &runtime,
            &cache_dir,
            &pooling,
            work.path(),
            limit,
            concurrency,
        )
        .await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn bench_tenant(runtime: &Arc<Runtime>, dir: &Path, orgs: usize, concurrency: usize) {
    println!("\n## {orgs} organizations × 3 packages");
    let mut sim = SimProcess::start(orgs);
    let site = format!("http://127.0.0.1:{}", sim.port);
    let conn = support::connection(&site);
    let policy = support::policy(runtime, &site).await;

    // The store: connection, usage, mappings.
    let setup = Instant::now();
    // SEATSYNC_BENCH_DB_DIR=/dev/shm shows what the store's fsyncs cost;
    // SEATSYNC_BENCH_STORE=postgres puts the store in a schema of its own
    // in the PostgreSQL server SEATSYNC_TEST_POSTGRES names.
    let db_dir = std::env::var_os("SEATSYNC_BENCH_DB_DIR").map_or(dir.to_path_buf(), Into::into);
    let db = db_dir.join(format!("seatsync-bench-{}-{orgs}.db", std::process::id()));
    let postgres = match std::env::var("SEATSYNC_BENCH_STORE").as_deref() {
        Ok("postgres") => Some(
            seatsync_host::store::testing::PostgresSchema::new()
                .expect("SEATSYNC_BENCH_STORE=postgres needs SEATSYNC_TEST_POSTGRES"),
        ),
        _ => None,
    };
    let store = match &postgres {
        Some(schema) => {
            let key = db_dir.join(format!("seatsync-bench-{}-{orgs}.key", std::process::id()));
            let _ = std::fs::remove_file(&key);
            seatsync_host::store::new_key_file(&key).expect("a key file");
            println!("(store: PostgreSQL, a schema of its own)");
            Store::open_with_key(schema.url(), seatsync_host::store::KeySource::File(key))
                .expect("store")
        }
        None => Store::open(&db).expect("store"),
    };
    support::store_tenant(&store, TENANT, &site, orgs);
    println!(
        "(setup: store with {orgs} mapped organizations in {:.1} s, not measured)",
        setup.elapsed().as_secs_f64()
    );
    sim.counts();

    // The three syncs through the host's real sync (store, history, runtime).
    let mut phases = Vec::new();
    phases.push(
        sync_phase(
            "first sync (creating)",
            runtime,
            &store,
            &mut sim,
            concurrency,
        )
        .await,
    );
    phases.push(
        sync_phase(
            "re-sync (nothing changed)",
            runtime,
            &store,
            &mut sim,
            concurrency,
        )
        .await,
    );
    store
        .replace_usage(TENANT, &support::usage(orgs, true))
        .expect("usage");
    phases.push(
        sync_phase(
            "sync after 10% of counts changed",
            runtime,
            &store,
            &mut sim,
            concurrency,
        )
        .await,
    );

    println!("\n| phase | wall | orgs/s | requests/org | writes/org | failed | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|");
    for p in &phases {
        println!(
            "| {} | {:.2} s | {:.0} | {:.3} | {:.3} | {} | {} |",
            p.name,
            p.wall.as_secs_f64(),
            p.orgs as f64 / p.wall.as_secs_f64(),
            p.requests as f64 / p.orgs as f64,
            p.writes as f64 / p.orgs as f64,
            p.failed,
            mib(p.peak_kib)
        );
        assert_eq!(
            p.requests + p.check_requests,
            p.sim_requests,
            "host and simulator agree"
        );
    }
    let changed = support::changed_rows(orgs) as u64;
    println!(
        "targets: re-sync {} requests (want {orgs}) and {} writes (want 0); \
         after the change {} requests (want {orgs} + {changed}) and {} writes (want {changed})",
        phases[1].requests, phases[1].writes, phases[2].requests, phases[2].writes
    );

    // Sandboxed vs native on the same work: re-syncs without the store, the
    // same driver, alternating, best of two each.
    let requests: Arc<Vec<SyncRequest>> =
        Arc::new((0..orgs).map(|i| support::request(i, true)).collect());
    let mut sandboxed = Vec::new();
    let mut native = Vec::new();
    for _ in 0..2 {
        sandboxed.push(drive(runtime, &policy, &conn, &requests, concurrency, false).await);
        native.push(drive(runtime, &policy, &conn, &requests, concurrency, true).await);
    }
    sim.counts();
    let best = |v: &[(Duration, u64, u64)]| v.iter().map(|r| r.0).min().unwrap();
    let (s, n) = (best(&sandboxed), best(&native));
    println!(
        "\nsandboxed vs native, {orgs} re-syncs without the store: sandboxed {:.2} s ({:.0} orgs/s), \
         native {:.2} s ({:.0} orgs/s): sandboxed throughput = {:.0}% of native (target ≥ 80%)",
        s.as_secs_f64(),
        orgs as f64 / s.as_secs_f64(),
        n.as_secs_f64(),
        orgs as f64 / n.as_secs_f64(),
        100.0 * n.as_secs_f64() / s.as_secs_f64()
    );
    for (what, runs) in [("sandboxed", &sandboxed), ("native", &native)] {
        for r in runs.iter() {
            assert_eq!(
                (r.1, r.2),
                (orgs as u64, 0),
                "{what}: a re-sync is one read"
            );
        }
    }

    // The per-call fixed cost: a call with no lines sends nothing. With the
    // same connection every time it runs in the instance the previous call
    // left (a warm call); with a connection of its own each time (another
    // public key), every call creates a store, instantiates, and drops the
    // idle instance it evicts: the instantiation cost.
    let empty = SyncRequest {
        lines: Vec::new(),
        ..support::request(0, false)
    };
    let calls = 500;
    let started = Instant::now();
    for _ in 0..calls {
        let call = runtime
            .sync_organization(&policy, &conn, &empty)
            .await
            .expect("call");
        assert_eq!(call.requests, 0);
    }
    let warm_call = started.elapsed() / calls;
    let strangers: Vec<_> = (0..calls)
        .map(|i| {
            let mut stranger = conn.clone();
            stranger.set("public-key", format!("bench-key-{i}"));
            stranger
        })
        .collect();
    let started = Instant::now();
    for stranger in &strangers {
        let call = runtime
            .sync_organization(&policy, stranger, &empty)
            .await
            .expect("call");
        assert_eq!(call.requests, 0);
    }
    let new_instance_call = started.elapsed() / calls;
    let started = Instant::now();
    for _ in 0..calls {
        support::native_sync_organization(runtime, &policy, &conn, &empty)
            .await
            .expect("call");
    }
    let native_call = started.elapsed() / calls;
    println!(
        "per call without requests: sandboxed {:.0} µs in a kept instance, {:.0} µs with a new \
         instance (new store + instantiation + call + teardown); native {:.0} µs",
        warm_call.as_secs_f64() * 1e6,
        new_instance_call.as_secs_f64() * 1e6,
        native_call.as_secs_f64() * 1e6
    );
    println!("resident now {} MiB", mib(vm_rss_kib()));
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

async fn sync_phase(
    name: &'static str,
    runtime: &Arc<Runtime>,
    store: &Store,
    sim: &mut SimProcess,
    concurrency: usize,
) -> Phase {
    let peak_reset = reset_peak();
    let options = sync_options(concurrency);
    let started = Instant::now();
    let summary = sync_tenant(store, runtime.clone(), TENANT, &options, &mut ())
        .await
        .expect("the sync runs");
    let wall = started.elapsed();
    let peak_kib = vm_hwm_kib();
    let (sim_requests, _) = sim.counts();
    let phase = Phase {
        name,
        wall,
        orgs: summary.orgs.len(),
        requests: summary.orgs.iter().map(|o| u64::from(o.requests)).sum(),
        check_requests: u64::from(summary.check_requests),
        writes: summary.orgs.iter().map(|o| u64::from(o.writes)).sum(),
        sim_requests,
        failed: summary.orgs.iter().filter(|o| !o.succeeded()).count(),
        peak_kib,
    };
    println!(
        "{name}: {:.2} s{}",
        wall.as_secs_f64(),
        if peak_reset {
            ""
        } else {
            " (peak memory since start: clear_refs unavailable)"
        }
    );
    phase
}

/// Syncs every request, `concurrency` at a time, without the store.
/// Returns the wall time, requests and writes.
async fn drive(
    runtime: &Arc<Runtime>,
    policy: &NetworkPolicy,
    conn: &Settings,
    requests: &Arc<Vec<SyncRequest>>,
    concurrency: usize,
    native: bool,
) -> (Duration, u64, u64) {
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    let (mut sent, mut writes) = (0u64, 0u64);
    let mut next = 0;
    loop {
        while in_flight.len() < concurrency && next < requests.len() {
            let (runtime, policy, conn, requests) = (
                runtime.clone(),
                policy.clone(),
                conn.clone(),
                requests.clone(),
            );
            let i = next;
            next += 1;
            in_flight.spawn(async move {
                let request = &requests[i];
                if native {
                    let call = support::native_sync_organization(&runtime, &policy, &conn, request)
                        .await
                        .expect("the call completes");
                    assert!(call.value.is_ok(), "{:?}", call.value);
                    (call.requests, call.writes)
                } else {
                    let call = runtime
                        .sync_organization(&policy, &conn, request)
                        .await
                        .expect("the call completes");
                    assert!(call.value.is_ok(), "{:?}", call.value);
                    (call.requests, call.writes)
                }
            });
        }
        let Some(done) = in_flight.join_next().await else {
            break;
        };
        let (r, w) = done.expect("task");
        sent += u64::from(r);
        writes += u64::from(w);
    }
    (started.elapsed(), sent, writes)
}

/// The component under test: `SEATSYNC_BENCH_COMPONENT` (a file) or the
/// embedded one.
fn component_bytes() -> std::borrow::Cow<'static, [u8]> {
    match std::env::var_os("SEATSYNC_BENCH_COMPONENT") {
        Some(path) => std::fs::read(path)
            .expect("SEATSYNC_BENCH_COMPONENT")
            .into(),
        None => seatsync_host::DEFAULT_COMPONENT.into(),
    }
}

/// The bench process's CPU time so far (user and system, all threads; the
/// simulator is another process), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, fields 14 and 15 of the line (11 and 12 here),
    // in clock ticks of 1/100 s on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// What `--compare` and `--profile` drive: a runtime (compiled into a
/// fresh cache), a simulator child with `orgs` agreements, and one sync
/// request per organization.
struct Resyncs {
    runtime: Arc<Runtime>,
    policy: NetworkPolicy,
    conn: Settings,
    requests: Arc<Vec<SyncRequest>>,
    concurrency: usize,
    /// Kept for their `Drop`: the simulator stops, the cache goes.
    _sim: SimProcess,
    _work: tempfile::TempDir,
}

impl Resyncs {
    async fn start(orgs: usize) -> Resyncs {
        let pooling = std::env::var("SEATSYNC_BENCH_POOLING").unwrap_or_else(|_| "16".into());
        let concurrency: usize = std::env::var("SEATSYNC_CONCURRENCY")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(8);
        let work = tempfile::tempdir().expect("temp dir");
        // `SEATSYNC_BENCH_CACHE_DIR`: a compile cache kept between runs, so
        // that a profiler sees the re-syncs, not the compiler, and the
        // component's code is mapped from a file it can name symbols in.
        let cache = std::env::var_os("SEATSYNC_BENCH_CACHE_DIR")
            .map_or_else(|| work.path().to_path_buf(), std::path::PathBuf::from);
        let runtime =
            Arc::new(Runtime::new(&component_bytes(), options(&cache, &pooling)).expect("loads"));
        let sim = SimProcess::start(orgs);
        let site = format!("http://127.0.0.1:{}", sim.port);
        let conn = support::connection(&site);
        let policy = support::policy(&runtime, &site).await;
        let requests: Arc<Vec<SyncRequest>> =
            Arc::new((0..orgs).map(|i| support::request(i, false)).collect());
        Resyncs {
            runtime,
            policy,
            conn,
            requests,
            concurrency,
            _sim: sim,
            _work: work,
        }
    }

    /// One pass over every organization, sandboxed or native.
    async fn drive(&self, native: bool) -> (Duration, u64, u64) {
        drive(
            &self.runtime,
            &self.policy,
            &self.conn,
            &self.requests,
            self.concurrency,
            native,
        )
        .await
    }
}

/// Alternates sandboxed and native re-syncs of `orgs` organizations,
/// `rounds` times each, and prints the best of each and their ratio.
async fn compare(orgs: usize, rounds: usize) {
    let resyncs = Resyncs::start(orgs).await;
    // The first pass creates the additions; a second warms both up.
    resyncs.drive(false).await;
    resyncs.drive(true).await;
    let (mut sandboxed, mut native) = (Vec::new(), Vec::new());
    let (mut s_cpu, mut n_cpu) = (0.0, 0.0);
    for _ in 0..rounds {
        let cpu = cpu_seconds();
        let took = resyncs.drive(false).await;
        s_cpu += cpu_seconds() - cpu;
        sandboxed.push(took.0);
        let cpu = cpu_seconds();
        let took = resyncs.drive(true).await;
        n_cpu += cpu_seconds() - cpu;
        native.push(took.0);
    }
    let (s, n) = (
        sandboxed.iter().min().unwrap(),
        native.iter().min().unwrap(),
    );
    let per_org = |cpu: f64| cpu * 1e6 / (orgs * rounds) as f64;
    println!(
        "{orgs} re-syncs, best of {rounds}: sandboxed {:.3} s ({:.0} µs/org, host CPU {:.0} µs/org), \
         native {:.3} s ({:.0} µs/org, host CPU {:.0} µs/org): {:.0}%",
        s.as_secs_f64(),
        s.as_secs_f64() * 1e6 / orgs as f64,
        per_org(s_cpu),
        n.as_secs_f64(),
        n.as_secs_f64() * 1e6 / orgs as f64,
        per_org(n_cpu),
        100.0 * n.as_secs_f64() / s.as_secs_f64()
    );
}

/// Re-syncs `orgs` organizations five times, sandboxed or native, and
/// prints each time: a steady load to attach a profiler to.
async fn profile(native: bool, orgs: usize) {
    let resyncs = Resyncs::start(orgs).await;
    // The first pass creates the additions.
    resyncs.drive(native).await;
    for _ in 0..5 {
        let (took, sent, _) = resyncs.drive(native).await;
        println!(
            "{orgs} re-syncs ({sent} requests) in {:.3} s",
            took.as_secs_f64()
        );
    }
}

// ---------------------------------------------------------------------------
// The throttled phase.

/// How long the throttled phase should take at 100% of the limit; the
/// tenant is sized from it (30·N organizations, 5 re-syncs).
const THROTTLED_SECONDS: usize = 150;
/// Re-syncs of the throttled tenant, one after another.
const THROTTLED_RUNS: usize = 5;
/// Not counted in the "after warm-up" figures: the back-off finding the
/// site's limit from the ceiling of 900 a minute.
const WARM_UP: Duration = Duration::from_secs(20);
/// The simulator's counts are read this often during the phase.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// `SEATSYNC_BENCH_THROTTLE`: the throttled site's requests a second
/// (default 5), or `None` for `off`.
fn throttle_setting() -> Option<u32> {
    match std::env::var("SEATSYNC_BENCH_THROTTLE") {
        Ok(v) if v.trim().eq_ignore_ascii_case("off") => None,
        Ok(v) => Some(
            v.trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .expect("SEATSYNC_BENCH_THROTTLE: a number of requests a second, or off"),
        ),
        Err(_) => Some(5),
    }
}

/// The runtime options of the throttled phase: pacing on at the default
/// ceiling, the same instance pool as the other phases.
fn paced_options(cache_dir: &Path, pooling: &str) -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: Some(cache_dir.to_path_buf()),
        limits: Limits {
            instance_pool: pooling.parse().ok(),
            ..Limits::default()
        },
    }
}

fn sync_options(concurrency: usize) -> SyncOptions {
    SyncOptions {
        concurrency,
        retry_pause: None,
        settle_window: seatsync_host::sync::settle_window(&Limits::default()),
        ..SyncOptions::new(
            Trigger::Manual,
            NaiveDate::parse_from_str(support::DAY, "%Y-%m-%d").unwrap(),
        )
    }
}

/// `--throttled N`: the component compiled into a fresh cache, then only
/// the throttled phase.
async fn throttled_only(limit: u32) {
    let pooling = std::env::var("SEATSYNC_BENCH_POOLING").unwrap_or_else(|_| "16".into());
    let concurrency: usize = std::env::var("SEATSYNC_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(8);
    let work = tempfile::tempdir().expect("temp dir");
    let cache_dir = work.path().join("cache");
    let unlimited =
        Arc::new(Runtime::new(&component_bytes(), options(&cache_dir, &pooling)).expect("loads"));
    throttled_phase(
        &unlimited,
        &cache_dir,
        &pooling,
        work.path(),
        limit,
        concurrency,
    )
    .await;
}

/// Requests, 429s and time between two readings of the simulator.
struct Span {
    wall: Duration,
    requests: u64,
    throttled: u64,
}

impl Span {
    fn between(from: (Duration, Tally), to: (Duration, Tally)) -> Span {
        Span {
            wall: to.0 - from.0,
            requests: to.1.requests - from.1.requests,
            throttled: to.1.throttled - from.1.throttled,
        }
    }

    /// Requests answered (not 429) a second.
    fn served_per_second(&self) -> f64 {
        (self.requests - self.throttled) as f64 / self.wall.as_secs_f64()
    }

    fn throttled_share(&self) -> f64 {
        self.throttled as f64 / (self.requests.max(1)) as f64
    }
}

/// A site limited to `limit` requests a second, and a runtime with pacing
/// on: the tenant's first sync unthrottled (with `unlimited`), then
/// [`THROTTLED_RUNS`] re-syncs against the limit, the simulator's counts
/// read every [`SAMPLE_EVERY`].
async fn throttled_phase(
    unlimited: &Arc<Runtime>,
    cache_dir: &Path,
    pooling: &str,
    dir: &Path,
    limit: u32,
    concurrency: usize,
) {
    let orgs = limit as usize * THROTTLED_SECONDS / THROTTLED_RUNS;
    let ceiling = Limits::default()
        .requests_per_minute
        .map_or("unlimited".to_string(), |n| format!("{n} a minute"));
    println!(
        "\n## Throttled site: {limit} requests a second (429 past {limit} in a 1 s window, \
         Retry-After: 1)"
    );
    println!(
        "pacing ON at the default ceiling ({ceiling}), concurrency {concurrency}, \
         {orgs} organizations re-synced {THROTTLED_RUNS} times (1 GET each), \
         warm-up {} s",
        WARM_UP.as_secs()
    );
    let mut sim = SimProcess::start(orgs);
    let site = format!("http://127.0.0.1:{}", sim.port);
    let db = dir.join(format!(
        "seatsync-bench-throttled-{}-{orgs}.db",
        std::process::id()
    ));
    let store = Store::open(&db).expect("store");
    support::store_tenant(&store, TENANT, &site, orgs);
    let options = sync_options(concurrency);

    // The additions are created unthrottled, without pacing.
    let first = sync_tenant(&store, unlimited.clone(), TENANT, &options, &mut ())
        .await
        .expect("the sync runs");
    assert!(first.succeeded(), "the unthrottled first sync succeeds");
    sim.counts();
    sim.set_rate_limit(Some(limit));

    let paced = Arc::new(
        Runtime::new(&component_bytes(), paced_options(cache_dir, pooling)).expect("loads"),
    );
    let started = Instant::now();
    let syncs = async {
        let (mut host_requests, mut synced, mut failed) = (0u64, 0usize, 0usize);
        for _ in 0..THROTTLED_RUNS {
            let summary = sync_tenant(&store, paced.clone(), TENANT, &options, &mut ())
                .await
                .expect("the sync runs");
            host_requests += summary
                .orgs
                .iter()
                .map(|o| u64::from(o.requests))
                .sum::<u64>()
                + u64::from(summary.check_requests);
            synced += summary.orgs.len();
            failed += summary.orgs.iter().filter(|o| !o.succeeded()).count();
        }
        (host_requests, synced, failed, started.elapsed())
    };
    let mut readings = vec![(Duration::ZERO, Tally::default())];
    let (host_requests, synced, failed, wall) = {
        tokio::pin!(syncs);
        loop {
            let next = started + SAMPLE_EVERY * readings.len() as u32;
            tokio::select! {
                done = &mut syncs => break done,
                () = tokio::time::sleep_until(next.into()) => {
                    let tally = sim.tally();
                    readings.push((started.elapsed(), tally));
                }
            }
        }
    };
    readings.push((wall, sim.tally()));
    sim.set_rate_limit(None);

    let spans: Vec<Span> = readings
        .windows(2)
        .map(|w| Span::between(w[0], w[1]))
        .collect();
    let whole = Span::between(readings[0], *readings.last().unwrap());
    let warm = readings
        .iter()
        .find(|r| r.0 >= WARM_UP)
        .copied()
        .filter(|r| r.0 < wall);
    let after = warm.map(|w| Span::between(w, *readings.last().unwrap()));

    println!(
        "every {} s, served a second: {}",
        SAMPLE_EVERY.as_secs(),
        spans
            .iter()
            .map(|s| format!("{:.1}", s.served_per_second()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "every {} s, answered 429: {}",
        SAMPLE_EVERY.as_secs(),
        spans
            .iter()
            .map(|s| s.throttled.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("\n| span | wall | requests | 429s | answered 429 | served/s | share of {limit}/s |");
    println!("|---|---|---|---|---|---|---|");
    let mut rows = vec![("whole phase".to_string(), &whole)];
    if let Some(after) = &after {
        rows.push((
            format!(
                "after the {} s warm-up",
                warm.unwrap().0.as_secs_f64().round()
            ),
            after,
        ));
    }
    for (name, s) in rows {
        println!(
            "| {name} | {:.1} s | {} | {} | {:.2}% | {:.2} | {:.1}% |",
            s.wall.as_secs_f64(),
            s.requests,
            s.throttled,
            100.0 * s.throttled_share(),
            s.served_per_second(),
            100.0 * s.served_per_second() / f64::from(limit)
        );
    }
    println!(
        "{synced} organizations synced ({failed} failed); the host counted {host_requests} \
         requests, the simulator {}",
        whole.requests
    );
    match &after {
        Some(after) => {
            let share = after.served_per_second() / f64::from(limit);
            let throttled = after.throttled_share();
            println!(
                "targets after the warm-up: served {:.1}% of {limit}/s (want ≥ 90%: {}), \
                 {:.2}% answered 429 (want ≤ 2%: {})",
                100.0 * share,
                if share >= 0.9 { "met" } else { "NOT met" },
                100.0 * throttled,
                if throttled <= 0.02 { "met" } else { "NOT met" },
            );
        }
        None => println!("the phase ended before the warm-up did: no figures after it"),
    }
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
