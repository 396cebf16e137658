//! Many workers (`seatsync run --all`) sharing one database: three worker
//! processes, two simulated ConnectWise sites with six tenants each, one
//! worker killed with SIGKILL in the middle of a sync.
//!
//! What must hold: every tenant is synced exactly once for its slot (the
//! killed worker's tenant is taken over and finished by another); a tenant
//! whose time has not come is not synced; a site never sees two tenants'
//! requests at once (the simulators record any request that arrives while
//! another integration's is in flight); no addition is created twice; the
//! history of every run is complete; a slot missed while no worker ran is
//! caught up once, not once per worker. On SQLite by default; CI runs it
//! against PostgreSQL too (`SEATSYNC_TEST_STORE=postgres`).

mod common;

use std::collections::BTreeMap;
use std::process::Child;
use std::time::Duration;

use common::{
    Env, assert_no_duplicate_additions, demo_org_mapping, demo_package_mapping, normalized_state,
    reference_state, wait_until,
};
use seatsync_fixtures::{DEMO_CLIENT_ID, SimConfig, SimHandle, Simulator, demo};
use seatsync_host::store::{RunStatus, Store, StoredConnection, Trigger, WorkerState};

/// Tenants per site; each gets two of the demo's twelve organizations, so
/// the six together sync the whole demo tenant.
const PER_SITE: usize = 6;

/// The first day: workers start two seconds before the 06:00 slot.
const DAY_ONE: &str = "2026-11-27T05:59:58Z";
/// The next morning, after a night with no worker: 06:00 and 07:00 missed.
const DAY_TWO: &str = "2026-11-28T08:00:00Z";

fn client_id(tenant: &str) -> String {
    format!("{DEMO_CLIENT_ID}-{tenant}")
}

/// A simulated site whose every answer takes 60 ms (so syncs last long
/// enough to be caught in the middle), accepting the tenants' client ids.
fn site(tenants: &[String]) -> SimHandle {
    let mut config = SimConfig {
        more_client_ids: tenants.iter().map(|t| client_id(t)).collect(),
        ..SimConfig::default()
    };
    config.faults.delay = Some(Duration::from_millis(60));
    Simulator::start_blocking(config).expect("the simulator starts")
}

/// Stores `tenant`'s connection to `sim` (with its own client id), the
/// usage of `orgs`, and the demo's mappings for them.
fn configure(store: &Store, tenant: &str, sim: &SimHandle, orgs: &[String]) {
    let mut settings = seatsync_tests::demo_settings(&format!("http://{}", sim.addr()));
    settings.set("client-id", client_id(tenant));
    store
        .save_connection(
            tenant,
            &StoredConnection::new(settings, ["private-key".to_string()], true, None),
        )
        .expect("the connection is saved");
    if orgs.is_empty() {
        return;
    }
    let mut lines = demo::USAGE_CSV.lines();
    let mut csv = format!("{}\n", lines.next().expect("a header"));
    for line in lines.filter(|l| orgs.iter().any(|o| l.starts_with(&format!("{o},")))) {
        csv.push_str(line);
        csv.push('\n');
    }
    let usage = seatsync_host::usage::parse_usage(
        csv.as_bytes(),
        Some(seatsync_host::usage::UsageFormat::Csv),
    )
    .expect("the usage parses");
    store.replace_usage(tenant, &usage).expect("usage stored");
    for key in usage.package_keys() {
        store
            .upsert_package_mapping(tenant, key, &demo_package_mapping(key))
            .expect("package mapped");
    }
    for org in orgs {
        store
            .upsert_org_mapping(tenant, org, &demo_org_mapping(org))
            .expect("org mapped");
    }
}

/// A worker process, killed if the test ends without stopping it.
struct Worker(Option<Child>);

impl Worker {
    /// Starts a worker whose clock starts at `now`.
    fn start(env: &Env, now: &str) -> Worker {
        let child = env
            .command(&["run", "--all", "--jobs", "2"])
            .env(seatsync_host::clock::NOW_VAR, now)
            .env("SEATSYNC_WORKER_POLL", "100ms")
            .env("SEATSYNC_CONCURRENCY", "2")
            .spawn()
            .expect("a worker starts");
        Worker(Some(child))
    }

    fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL, as a machine lost or an OOM kill would.
    fn kill(mut self) {
        if let Some(mut child) = self.0.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    /// Stops it with SIGTERM and returns its output; it must exit 0 after
    /// finishing what it was doing.
    fn stop(mut self) -> String {
        let child = self.0.take().expect("running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let out = child.wait_with_output().expect("the worker stops");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "a worker failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("Stopped."), "{stdout}");
        stdout
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            // A failed test shows what each worker said.
            if let Ok(out) = child.wait_with_output()
                && std::thread::panicking()
            {
                eprintln!(
                    "worker output:\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

/// Each tenant's completed daily runs (status, organizations recorded), and
/// how many of its runs were interrupted.
fn runs(store: &Store, tenants: &[String]) -> BTreeMap<String, (Vec<(RunStatus, u32)>, usize)> {
    tenants
        .iter()
        .map(|t| {
            let runs = store.list_runs(t, 50).expect("runs list");
            let completed = runs
                .iter()
                .filter(|r| !matches!(r.status, RunStatus::Running | RunStatus::Interrupted))
                .map(|r| {
                    assert_eq!(r.trigger, Trigger::Daemon, "a slot's run");
                    (r.status, r.totals.orgs)
                })
                .collect();
            let interrupted = runs
                .iter()
                .filter(|r| r.status == RunStatus::Interrupted)
                .count();
            (t.clone(), (completed, interrupted))
        })
        .collect()
}

#[test]
fn three_workers_share_two_sites_and_survive_a_sigkill() {
    let env = Env::new();
    let orgs: Vec<String> = demo::mappings().organizations.into_keys().collect();
    assert_eq!(orgs.len(), 2 * PER_SITE);
    let names =
        |site: &str| -> Vec<String> { (1..=PER_SITE).map(|i| format!("{site}{i:02}")).collect() };
    let (on_a, on_b) = (names("a"), names("b"));
    // A tenant of site A whose time is 07:00: not due on day one.
    let late = "a-late".to_string();
    let sim_a = site(&[on_a.clone(), vec![late.clone(), "a-empty".into()]].concat());
    let sim_b = site(&on_b);
    {
        let store = env.store();
        for (i, tenant) in on_a.iter().enumerate() {
            configure(&store, tenant, &sim_a, &orgs[2 * i..2 * i + 2]);
        }
        for (i, tenant) in on_b.iter().enumerate() {
            configure(&store, tenant, &sim_b, &orgs[2 * i..2 * i + 2]);
        }
        configure(&store, &late, &sim_a, &orgs[0..2]);
        // Connected, nothing mapped: each worker says so once a slot.
        configure(&store, "a-empty", &sim_a, &[]);
    }
    // The tenants were first scheduled well before the day's slot (so the
    // test does not depend on how fast the workers start: one that first
    // looked after 06:00 would leave the slot for the next day).
    {
        let mut store = env.store();
        let before: chrono::DateTime<chrono::Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
        store.set_clock(std::sync::Arc::new(move || before));
        let empty = "a-empty".to_string();
        for tenant in on_a.iter().chain(&on_b).chain([&late, &empty]) {
            store.note_daemon_started(tenant).expect("first scheduled");
        }
    }
    // Times through the CLI: one tenant explicitly at 06:00, the late one
    // at 07:00.
    env.ok(&["--tenant", "a01", "schedule", "set", "--at", "06:00"]);
    env.ok(&["--tenant", &late, "schedule", "set", "--at", "07:00"]);
    let shown = env.ok(&["schedule", "show", "--json"]).stdout;
    let shown: serde_json::Value = serde_json::from_str(&shown).expect("JSON");
    let late_shown = shown
        .as_array()
        .expect("a list")
        .iter()
        .find(|s| s["tenant"] == "a-late")
        .expect("the late tenant is listed");
    assert_eq!(late_shown["at"], "07:00");
    assert_eq!(late_shown["default"], false);

    let every: Vec<String> = [on_a.clone(), on_b.clone()].concat();
    let mut workers: Vec<Worker> = (0..3).map(|_| Worker::start(&env, DAY_ONE)).collect();

    // Kill a worker in the middle of a sync: as soon as one has a run in
    // progress.
    let store = env.store();
    let mut victim = None;
    wait_until(
        "a worker in the middle of a run",
        Duration::from_secs(60),
        || {
            let listed = store.workers().expect("workers list");
            victim = listed
                .iter()
                .find(|w| w.state == WorkerState::Live && !w.running.is_empty())
                .map(|w| (w.pid, w.running[0].tenant.clone(), w.leases.clone()));
            victim.is_some()
        },
    );
    let (pid, killed_tenant, leases) = victim.expect("found");
    assert!(
        leases
            .iter()
            .any(|l| l.name == format!("sync:{killed_tenant}"))
            && leases
                .iter()
                .any(|l| l.name.starts_with("site:http://127.0.0.1:")),
        "a running worker holds its tenant's and its site's lock: {leases:?}"
    );
    let index = workers
        .iter()
        .position(|w| w.pid() == pid)
        .expect("the worker is one of ours");
    workers.remove(index).kill();

    // The others finish every due tenant, the killed one's included.
    wait_until("every tenant synced", Duration::from_secs(120), || {
        every.iter().all(|t| {
            store
                .last_completed_run_start(t)
                .expect("last run")
                .is_some()
        })
    });
    let listed = store.workers().expect("workers");
    assert_eq!(
        listed
            .iter()
            .map(|w| (w.pid == pid, w.state))
            .filter(|(_, s)| *s == WorkerState::Live)
            .count(),
        2,
        "two live workers: {listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|w| w.pid == pid && w.state == WorkerState::Gone),
        "the killed worker is gone: {listed:?}"
    );
    let outputs: Vec<String> = workers.into_iter().map(Worker::stop).collect();
    // Stopped workers leave; the killed one is shown as gone.
    assert_eq!(worker_states(&env), ["gone"]);

    let day_one = runs(&store, &every);
    for (tenant, (completed, interrupted)) in &day_one {
        assert_eq!(
            completed.len(),
            1,
            "tenant {tenant} synced exactly once for its slot: {completed:?}"
        );
        // The history is whole: both organizations recorded.
        assert_eq!(completed[0].1, 2, "tenant {tenant}: {completed:?}");
        if tenant != &killed_tenant {
            assert_eq!(*interrupted, 0, "tenant {tenant}");
        }
    }
    assert!(
        day_one[&killed_tenant].1 <= 1,
        "the killed worker left at most one run behind"
    );
    assert!(
        store.list_runs(&late, 10).expect("runs").is_empty(),
        "the 07:00 tenant was not synced at 06:00"
    );
    // The killed worker's last request may still be counted in flight
    // (the simulator answers a dead client after its delay): overlaps with
    // it alone are not two live workers.
    let dead = format!(
        "while {} had requests in flight",
        client_id(&killed_tenant).to_ascii_lowercase()
    );
    for sim in [&sim_a, &sim_b] {
        let overlaps: Vec<String> = sim
            .client_overlaps()
            .into_iter()
            .filter(|o| !o.ends_with(&dead))
            .collect();
        assert_eq!(
            overlaps,
            Vec::<String>::new(),
            "a site saw two integrations at once"
        );
        assert_no_duplicate_additions(sim);
        // Six tenants of two organizations each wrote what one sync of the
        // whole demo tenant writes.
        assert_eq!(normalized_state(sim), reference_state());
    }
    let printed = outputs.concat();
    assert!(
        printed.contains("run #"),
        "workers print their runs: {printed}"
    );
    let empty: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("[a-empty]"))
        .collect();
    assert!(
        !empty.is_empty() && empty.len() <= outputs.len(),
        "a tenant with nothing to sync is looked at once a slot per worker: {empty:?}"
    );
    assert!(
        empty.iter().all(|l| l.ends_with("nothing to sync.")),
        "{empty:?}"
    );

    // Day two: no worker ran overnight. Three start at 08:00; each slot
    // that passed (06:00, and 07:00 for the late tenant) runs once.
    sim_a.reset_counts();
    sim_b.reset_counts();
    let workers: Vec<Worker> = (0..3).map(|_| Worker::start(&env, DAY_TWO)).collect();
    let mut all = every.clone();
    all.push(late.clone());
    wait_until("every tenant caught up", Duration::from_secs(120), || {
        runs(&store, &all)
            .iter()
            .all(|(tenant, (completed, _))| completed.len() == if tenant == &late { 1 } else { 2 })
    });
    // Give a worker that would wrongly run a slot again the time to do it.
    std::thread::sleep(Duration::from_millis(500));
    for stdout in workers.into_iter().map(Worker::stop) {
        assert!(!stdout.contains("could not run"), "{stdout}");
    }
    let day_two = runs(&store, &all);
    for (tenant, (completed, _)) in &day_two {
        let expected = if tenant == &late { 1 } else { 2 };
        assert_eq!(
            completed.len(),
            expected,
            "tenant {tenant}: the missed slot caught up once: {completed:?}"
        );
    }
    for sim in [&sim_a, &sim_b] {
        assert_eq!(sim.client_overlaps(), Vec::<String>::new());
        assert_eq!(sim.counts().writes, 0, "nothing changed overnight");
        assert_no_duplicate_additions(sim);
    }

    // A worker gone for a day is cleared away when another starts.
    assert_eq!(worker_states(&env), Vec::<String>::new());
}

/// `seatsync workers --json`: each worker's state.
fn worker_states(env: &Env) -> Vec<String> {
    let listed: serde_json::Value =
        serde_json::from_str(&env.ok(&["workers", "--json"]).stdout).expect("JSON");
    listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|w| w["state"].as_str().expect("a state").to_owned())
        .collect()
}
