//! `cargo bench -p seatsync-host --bench workers`: many tenants, several
//! worker processes (`seatsync run --all`), one store.
//!
//! 200 tenants of 50 organizations each (`SEATSYNC_BENCH_TENANTS`,
//! `SEATSYNC_BENCH_TENANT_ORGS`) on 20 simulated ConnectWise sites
//! (`SEATSYNC_BENCH_SITES`), each answering 429 past 20 requests a second
//! (`SEATSYNC_BENCH_SITE_RATE`) while the workers pace each site to 900 a
//! minute; 4 workers (`SEATSYNC_BENCH_WORKERS`) of 5 jobs each
//! (`SEATSYNC_BENCH_JOBS`). The store is the PostgreSQL server that
//! `SEATSYNC_TEST_POSTGRES` names (a schema of its own; `.ci/postgres start
//! DIR` makes one), else an SQLite file.
//!
//! Two phases: the first day's sync (every addition created), then the
//! next day's (nothing changed). Each prints the tenants synced per minute,
//! organizations per second, requests and 429s, each worker's peak memory,
//! and whether any site ever saw two tenants' requests at once (the
//! simulators record it; it must be none).

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use seatsync_fixtures::{DEMO_CLIENT_ID, Faults, RateLimit, SimConfig, SimHandle, Simulator};
use seatsync_host::store::{KeySource, Store};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: a number"))
        })
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("the workers benchmark runs with `cargo bench -p seatsync-host --bench workers`");
        return;
    }
    let tenants = setting("SEATSYNC_BENCH_TENANTS", 200);
    let orgs = setting("SEATSYNC_BENCH_TENANT_ORGS", 50);
    let sites = setting("SEATSYNC_BENCH_SITES", 20).clamp(1, tenants.max(1));
    let workers = setting("SEATSYNC_BENCH_WORKERS", 4);
    let jobs = setting("SEATSYNC_BENCH_JOBS", 5);
    let rate = setting("SEATSYNC_BENCH_SITE_RATE", 20);
    let per_site = tenants.div_ceil(sites);
    println!(
        "# {tenants} tenants × {orgs} organizations on {sites} sites ({rate} requests/s each), \
         {workers} workers × {jobs} jobs"
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = dir.path().join("secret.key");
    seatsync_host::store::new_key_file(&key).expect("a key file");
    let postgres = std::env::var_os("SEATSYNC_TEST_POSTGRES").map(|_| {
        seatsync_host::store::testing::PostgresSchema::new().expect("a PostgreSQL schema")
    });
    let db: PathBuf = match &postgres {
        Some(schema) => {
            println!("(store: PostgreSQL, a schema of its own)");
            PathBuf::from(schema.url())
        }
        None => {
            println!("(store: SQLite; set SEATSYNC_TEST_POSTGRES for PostgreSQL)");
            dir.path().join("seatsync.db")
        }
    };

    // The sites: each holds the organizations of its tenants, and accepts
    // each tenant's own client id (so it can tell them apart).
    let names: Vec<String> = (0..tenants).map(|i| format!("t{i:04}")).collect();
    let sims: Vec<SimHandle> = (0..sites)
        .map(|s| {
            let mine: Vec<String> = names
                .iter()
                .enumerate()
                .filter(|(i, _)| i % sites == s)
                .map(|(_, t)| client_id(t))
                .collect();
            Simulator::start_blocking(SimConfig {
                tenant: support::tenant(per_site * orgs),
                clock: format!("{}T12:00:00Z", support::DAY),
                more_client_ids: mine,
                faults: Faults {
                    rate_limit: Some(RateLimit {
                        max_requests: u32::try_from(rate).expect("a rate"),
                        window: Duration::from_secs(1),
                        retry_after_secs: 1,
                    }),
                    ..Faults::default()
                },
                ..SimConfig::default()
            })
            .expect("a simulator")
        })
        .collect();

    let setup = Instant::now();
    {
        let mut store = Store::open_with_key(&db, KeySource::File(key.clone())).expect("store");
        // Workers were first started the day before: the first day's 06:00
        // slot is due as soon as they start.
        let before: chrono::DateTime<chrono::Utc> = format!("{}T00:00:00Z", support::DAY)
            .parse::<chrono::DateTime<chrono::Utc>>()
            .expect("a time")
            - chrono::TimeDelta::days(1);
        store.set_clock(std::sync::Arc::new(move || before));
        for (i, tenant) in names.iter().enumerate() {
            let (site, k) = (i % sites, i / sites);
            let mut settings = support::connection(&format!("http://{}", sims[site].addr()));
            settings.set("client-id", client_id(tenant));
            support::store_tenant_of(&store, tenant, settings, k * orgs..(k + 1) * orgs);
            store.note_daemon_started(tenant).expect("baseline");
        }
    }
    println!(
        "(setup: {tenants} tenants stored in {:.1} s, not measured)",
        setup.elapsed().as_secs_f64()
    );

    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("seatsync-bench-workers-cache");
    let mut rows = Vec::new();
    for (day, phase) in [
        (support::DAY.to_string(), "first day (creating)"),
        (next_day(support::DAY), "next day (nothing changed)"),
    ] {
        for sim in &sims {
            sim.reset_counts();
            sim.clear_log();
        }
        let now = format!("{day}T07:00:00Z");
        let started = Instant::now();
        let mut children: Vec<Child> = (0..workers)
            .map(|_| worker(&db, &key, &cache, &now, jobs, dir.path()))
            .collect();
        let store = Store::open_with_key(&db, KeySource::File(key.clone())).expect("store");
        let slot: chrono::DateTime<chrono::Utc> =
            format!("{day}T06:00:00Z").parse().expect("a time");
        let mut peaks = vec![0u64; workers];
        loop {
            for (peak, child) in peaks.iter_mut().zip(&children) {
                *peak = (*peak).max(vm_hwm_kib(child.id()).unwrap_or(0));
            }
            let done = store
                .tenant_schedules()
                .expect("schedules")
                .iter()
                .filter(|s| s.last_run.is_some_and(|l| l >= slot))
                .count();
            if done == tenants {
                break;
            }
            for child in &mut children {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("a worker exited ({status}); see {}", dir.path().display());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let wall = started.elapsed();
        for child in &children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for mut child in children {
            let _ = child.wait();
        }
        let (requests, throttled) = sims.iter().fold((0u64, 0usize), |(r, t), sim| {
            let log = sim.request_log();
            (
                r + sim.counts().total,
                t + log.iter().filter(|e| e.status == 429).count(),
            )
        });
        let overlaps: usize = sims.iter().map(|s| s.client_overlaps().len()).sum();
        rows.push((phase, wall, requests, throttled, peaks, overlaps));
    }

    println!(
        "\n| phase | wall | tenants/min | orgs/s | requests | answered 429 | peak RSS per worker MiB | site overlaps |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (phase, wall, requests, throttled, peaks, overlaps) in &rows {
        let minutes = wall.as_secs_f64() / 60.0;
        println!(
            "| {phase} | {:.1} s | {:.0} | {:.0} | {requests} | {throttled} | {} | {overlaps} |",
            wall.as_secs_f64(),
            tenants as f64 / minutes,
            (tenants * orgs) as f64 / wall.as_secs_f64(),
            peaks
                .iter()
                .map(|k| format!("{:.0}", *k as f64 / 1024.0))
                .collect::<Vec<_>>()
                .join(", "),
        );
        assert_eq!(*overlaps, 0, "a site saw two tenants at once");
    }
}

fn client_id(tenant: &str) -> String {
    format!("{DEMO_CLIENT_ID}-{tenant}")
}

fn next_day(day: &str) -> String {
    let d: chrono::NaiveDate = day.parse().expect("a date");
    (d + chrono::Days::new(1)).to_string()
}

/// A worker whose clock starts at `now`, its output in `dir`.
fn worker(db: &Path, key: &Path, cache: &Path, now: &str, jobs: usize, dir: &Path) -> Child {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let log = std::fs::File::create(dir.join(format!("worker-{n}.log"))).expect("a log file");
    Command::new(env!("CARGO_BIN_EXE_seatsync"))
        .arg("--db")
        .arg(db)
        .arg("--secret-key-file")
        .arg(key)
        .args(["run", "--all", "--jobs", &jobs.to_string()])
        .env("SEATSYNC_NOW", now)
        .env("SEATSYNC_CACHE_DIR", cache)
        .env("SEATSYNC_WORKER_POLL", "200ms")
        .env("SEATSYNC_RETRY_PAUSE", "off")
        .env_remove("SEATSYNC_DB")
        .env_remove("SEATSYNC_SECRET_KEY")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log)
        .spawn()
        .expect("a worker starts")
}

/// A process's peak resident memory.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
