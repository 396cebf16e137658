//! Hostile components in the real host: the hostile guest
//! (`tests/guests/hostile`, built by `tests/build.rs`) is the real connector,
//! except that it misbehaves for one organization, Margie's Travel
//! (agreement 129). Each test loads it into the host (the `seatsync`
//! binary, `sync_tenant` or the daemon, with a small CPU budget where the
//! behaviour needs one) and checks that the host names that organization's
//! failure, that every other organization synced exactly as the real
//! connector syncs them, and that the host goes on.
//!
//! Network safety: traffic only ever goes to 127.0.0.1. The private address
//! is only requested after the test has checked that the site policy
//! refuses it (the host refuses before any lookup or connect); the other
//! host is `other.invalid`, which cannot resolve; the other loopback port is
//! a listener the test bound itself, which must see no connection.

mod common;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveTime;
use common::{Env, FakeClock, Run, demo_agreements, shared_cache_dir, test_day};
use seatsync_contract::{ConnectorError, Settings, SyncLine, SyncReport, SyncRequest};
use seatsync_fixtures::demo;
use seatsync_host::daemon::{self, Clock, DaemonOptions, SlotResult};
use seatsync_host::runtime::{
    Call, CallFailed, Limits, NetworkPolicy, Runtime, RuntimeError, RuntimeOptions,
};
use seatsync_host::store::{Store, Trigger};
use seatsync_host::sync::{OrgOutcome, Progress, SyncOptions, SyncSummary, sync_tenant};
use serde_json::Value;

/// The hostile component.
const GUEST: &str = env!("GUEST_HOSTILE");

/// The organization the guest misbehaves for, and its agreement.
const TRIGGER_ORG: &str = "pe-100755";
const TRIGGER_AGREEMENT: u32 = 129;

/// The guest's behaviours (see `tests/guests/hostile/src/lib.rs`): the
/// trigger organization's quantity is `code * 100_000 + argument`.
const SPIN: u32 = 1;
const HOG: u32 = 2;
const OTHER_HOST: u32 = 3;
const OTHER_PORT: u32 = 4;
const PRIVATE_ADDRESS: u32 = 5;
const PROBE: u32 = 6;
const PANIC: u32 = 7;
const ENDLESS_LOG: u32 = 8;
const LOG_FLOOD: u32 = 9;
const HUGE_REPORT: u32 = 10;
const HUGE_ERROR: u32 = 11;
const STALL: u32 = 12;
const WRITES_IN_DRY_RUN: u32 = 13;
const REMEMBER: u32 = 14;
const WRITES_THEN_PANICS: u32 = 15;
const LEAVES_A_REQUEST_PENDING: u32 = 16;

fn code(behaviour: u32, argument: u16) -> u32 {
    behaviour * 100_000 + u32::from(argument)
}

/// Limits small enough that every stopped call ends well under a second.
fn small_limits() -> Limits {
    Limits {
        memory_bytes: 32 * 1024 * 1024,
        epoch_tick: Duration::from_millis(5),
        cpu_time: Duration::from_millis(300),
        wall_clock: Duration::from_secs(3),
        ..Limits::default()
    }
}

// `..default()`: the options may grow; this test only cares about two.
#[allow(clippy::needless_update)]
fn hostile_runtime(limits: Limits) -> Arc<Runtime> {
    let bytes = std::fs::read(GUEST).expect("tests/build.rs built the hostile guest");
    let options = RuntimeOptions {
        limits,
        cache_dir: Some(shared_cache_dir()),
        ..RuntimeOptions::default()
    };
    Arc::new(Runtime::new(&bytes, options).expect("the hostile guest loads"))
}

/// The demo usage, with the trigger organization's count replaced by
/// `quantity`.
fn usage_csv(quantity: u32) -> String {
    let line = "pe-100755,Margie's Travel,business,25";
    assert!(
        demo::USAGE_CSV.contains(line),
        "the demo usage has the trigger line"
    );
    demo::USAGE_CSV.replace(
        line,
        &format!("pe-100755,Margie's Travel,business,{quantity}"),
    )
}

fn import_usage(env: &Env, quantity: u32) {
    let usage = env.file("usage.csv", &usage_csv(quantity));
    env.ok(&["usage", "import", usage.to_str().unwrap()]);
}

/// Connects, imports the usage (the trigger organization's count being
/// `quantity`) and maps every package and organization, through the binary.
fn configured(quantity: u32) -> Env {
    let env = Env::new();
    let connected = env.connect();
    assert_eq!(connected.status, 0, "{}", connected.stderr);
    import_usage(&env, quantity);
    env.map_demo();
    env
}

/// The simulator's additions on the demo agreements, without the ids it
/// assigned (organizations sync in parallel, so creation order varies).
fn state(env: &Env) -> Value {
    let mut dump = env.sim.state_dump_for(&demo_agreements());
    if let Value::Object(agreements) = &mut dump {
        for additions in agreements.values_mut() {
            if let Value::Array(list) = additions {
                for addition in list.iter_mut() {
                    if let Value::Object(fields) = addition {
                        fields.remove("id");
                    }
                }
                list.sort_by_key(|a| a.to_string());
            }
        }
    }
    dump
}

/// What the real connector makes of every organization but the trigger one:
/// the state every hostile run must leave too (the trigger organization's
/// agreement keeps no additions, as before).
fn baseline() -> &'static Value {
    static BASELINE: OnceLock<Value> = OnceLock::new();
    BASELINE.get_or_init(|| {
        let env = configured(25);
        let mut args = vec!["sync".to_string()];
        for org in demo::mappings().organizations.keys() {
            if org != TRIGGER_ORG {
                args.extend(["--org".to_string(), org.clone()]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = env.run(&args);
        assert_eq!(
            run.status, 2,
            "the demo has a conflict (attention):\n{}",
            run.stderr
        );
        let state = state(&env);
        assert!(
            state[TRIGGER_AGREEMENT.to_string()]
                .as_array()
                .is_none_or(Vec::is_empty),
            "agreement {TRIGGER_AGREEMENT} has no additions: {state:#}"
        );
        state
    })
}

/// Runs a sync of every organization with `runtime`, as `seatsync sync`
/// does, four organizations at a time.
async fn sync(env: &Env, runtime: Arc<Runtime>) -> SyncSummary {
    let store = env.store();
    let options = SyncOptions {
        retry_pause: None,
        ..SyncOptions::new(Trigger::Manual, test_day())
    };
    let mut heard = Heard::default();
    let summary = sync_tenant(&store, runtime, "default", &options, &mut heard)
        .await
        .expect("the run completes");
    // Progress output hears of every organization, failed ones included.
    assert_eq!(heard.planned, Some(summary.orgs.len()));
    assert_eq!(heard.finished, summary.orgs.len());
    summary
}

/// What `sync_tenant` told its progress.
#[derive(Default)]
struct Heard {
    planned: Option<usize>,
    finished: usize,
}

impl Progress for Heard {
    fn planned(&mut self, orgs: usize) {
        assert_eq!(self.planned, None, "planned once");
        self.planned = Some(orgs);
    }

    fn finished(&mut self, _outcome: &OrgOutcome) {
        assert!(self.planned.is_some(), "after the plan");
        self.finished += 1;
    }
}

/// Checks that only the trigger organization failed, that the others
/// synced as the real connector syncs them, and that history recorded the
/// failure; returns the trigger organization's error.
fn only_the_trigger_failed(env: &Env, summary: &SyncSummary) -> String {
    assert_eq!(summary.orgs.len(), 12, "every organization has a result");
    let mut error = None;
    for org in &summary.orgs {
        if org.plan.org_id == TRIGGER_ORG {
            error = Some(
                org.result
                    .clone()
                    .expect_err("the hostile organization fails"),
            );
            assert_eq!(org.writes, 0);
        } else {
            assert!(
                org.result.is_ok(),
                "{} failed: {:?}",
                org.plan.org_id,
                org.result
            );
        }
    }
    let error = error.expect("the trigger organization was synced");
    common::assert_no_secret(&error);
    assert_eq!(&state(env), baseline(), "the other organizations synced");

    let run = summary.run.as_ref().expect("a run was recorded");
    assert_eq!(run.totals.orgs, 12);
    assert_eq!(run.totals.orgs_failed, 1);
    let store = env.store();
    let failed: Vec<_> = store
        .run_lines(run.id)
        .unwrap()
        .into_iter()
        .filter(|l| l.org_id == TRIGGER_ORG)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].message.as_deref(), Some(error.as_str()));
    error
}

/// The trigger organization's error in a `sync --json` run, after checking
/// the others, as [`only_the_trigger_failed`] does.
fn only_the_trigger_failed_json(env: &Env, run: &Run) -> String {
    assert_eq!(run.status, 1, "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let orgs = json["organizations"].as_array().expect("organizations");
    assert_eq!(orgs.len(), 12);
    let mut error = None;
    for org in orgs {
        if org["org_id"] == TRIGGER_ORG {
            assert!(org["report"].is_null(), "{org:#}");
            error = org["error"].as_str().map(str::to_string);
        } else {
            assert!(org["error"].is_null(), "{org:#}");
            assert!(org["report"].is_object(), "{org:#}");
        }
    }
    assert_eq!(json["run"]["totals"]["orgs_failed"], 1);
    assert_eq!(&state(env), baseline(), "the other organizations synced");
    error.expect("the trigger organization has an error")
}

/// One `sync-organization` call of the trigger organization with `quantity`,
/// straight through the runtime, to see the host's log and exchanges.
async fn trigger_call(
    runtime: &Runtime,
    env: &Env,
    quantity: u32,
) -> Result<Call<Result<SyncReport, ConnectorError>>, CallFailed> {
    let conn = tests_connection(&env.site());
    trigger_call_as(runtime, env, &conn, quantity, false).await
}

/// [`trigger_call`] with another connection, or as a dry run.
async fn trigger_call_as(
    runtime: &Runtime,
    env: &Env,
    conn: &Settings,
    quantity: u32,
    dry_run: bool,
) -> Result<Call<Result<SyncReport, ConnectorError>>, CallFailed> {
    let policy = loopback_policy(&env.site());
    let request = SyncRequest {
        company_id: 288,
        contract_id: i64::from(TRIGGER_AGREEMENT),
        lines: vec![SyncLine {
            package_key: "business".into(),
            product_id: 19,
            quantity,
            options: Default::default(),
            description: None,
        }],
        dry_run,
        today: common::today(),
        start_date: common::today(),
        update_quantities: true,
        create_missing: true,
    };
    runtime.sync_organization(&policy, conn, &request).await
}

fn tests_connection(site: &str) -> Settings {
    seatsync_tests::demo_settings(site)
}

/// The policy `seatsync` gives the simulator's site: its loopback
/// authority over plain http.
fn loopback_policy(site: &str) -> NetworkPolicy {
    NetworkPolicy {
        endpoints: vec![seatsync_contract::Endpoint::api(
            "http",
            site.trim_start_matches("http://"),
        )],
        allow_http: true,
        ca_file: None,
        interactive: false,
        secrets: Vec::new(),
    }
}

/// A loopback listener that must see no connection.
struct Tripwire(TcpListener);

impl Tripwire {
    fn new() -> Tripwire {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds a loopback port");
        listener.set_nonblocking(true).unwrap();
        Tripwire(listener)
    }
    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }
    fn assert_untouched(&self) {
        match self.0.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, from)) => panic!("something connected to the tripwire from {from}"),
            Err(e) => panic!("the tripwire failed: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_that_never_ends_is_stopped_by_the_cpu_budget() {
    let env = configured(code(SPIN, 0));
    let started = Instant::now();
    let summary = sync(&env, hostile_runtime(small_limits())).await;
    let error = only_the_trigger_failed(&env, &summary);
    assert_eq!(
        error,
        "the connector hit the CPU limit of 300ms of computation"
    );
    let org = summary
        .orgs
        .iter()
        .find(|o| o.plan.org_id == TRIGGER_ORG)
        .unwrap();
    assert!(org.elapsed < Duration::from_secs(2), "{:?}", org.elapsed);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hog_is_stopped_at_the_memory_cap() {
    let env = configured(code(HOG, 0));
    let summary = sync(&env, hostile_runtime(small_limits())).await;
    let error = only_the_trigger_failed(&env, &summary);
    assert_eq!(
        error,
        "the connector hit the memory limit of 33554432 bytes"
    );
}

#[test]
fn requests_to_another_host_port_or_address_are_refused_and_logged() {
    let env = configured(code(OTHER_HOST, 0));
    let policy = loopback_policy(&env.site());
    let tripwire = Tripwire::new();
    let other_port = format!("127.0.0.1:{}", tripwire.port());
    // Before anything asks for them: the policy refuses all three, so the
    // host's sender never looks them up or connects.
    for authority in ["other.invalid", other_port.as_str(), "10.0.0.1"] {
        let refused = policy.check("http", authority).unwrap_err();
        assert!(
            refused.contains("only the connection's endpoints"),
            "{refused}"
        );
    }

    let cases = [
        (code(OTHER_HOST, 0), "http://other.invalid/".to_string()),
        (
            code(OTHER_PORT, tripwire.port()),
            format!("http://{other_port}/"),
        ),
        (code(PRIVATE_ADDRESS, 0), "http://10.0.0.1/".to_string()),
    ];
    for (quantity, url) in &cases {
        import_usage(&env, *quantity);
        let run = env.run(&["sync", "--plugin", GUEST, "--json"]);
        let error = only_the_trigger_failed_json(&env, &run);
        assert_eq!(
            error,
            format!("transport: hostile GET {url}: failed: the host denied the request")
        );
        // The host's log says what was refused and why.
        let logged = run
            .stderr
            .lines()
            .find(|l| l.contains("request refused by the sandbox"))
            .unwrap_or_else(|| panic!("no refusal logged:\n{}", run.stderr));
        assert!(logged.contains("WARN"), "{logged}");
        assert!(logged.contains(&format!("url={url}")), "{logged}");
        assert!(
            logged.contains("only the connection's endpoints"),
            "{logged}"
        );
    }
    tripwire.assert_untouched();

    // Each refusal is recorded as an exchange that was never sent.
    let runtime = hostile_runtime(Limits::default());
    let tokio = tokio::runtime::Runtime::new().unwrap();
    for (quantity, url) in &cases {
        let call = tokio
            .block_on(trigger_call(&runtime, &env, *quantity))
            .expect("the call completes");
        assert!(
            matches!(&call.value, Err(ConnectorError::Transport(m)) if m.contains("denied")),
            "{:?}",
            call.value
        );
        assert_eq!(call.requests, 0, "nothing was sent");
        assert_eq!(call.exchanges.len(), 1, "{:?}", call.exchanges);
        let exchange = &call.exchanges[0];
        assert!(exchange.denied);
        assert_eq!(&exchange.url, url);
        assert_eq!(exchange.status, None);
        assert!(
            exchange.error.as_deref().is_some_and(
                |e| e.starts_with("refused by the sandbox: only the connection's endpoints")
            ),
            "{exchange:?}"
        );
    }
    tripwire.assert_untouched();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_environment_and_sockets_are_not_available() {
    let tripwire = Tripwire::new();
    let env = configured(code(PROBE, tripwire.port()));
    let summary = sync(&env, hostile_runtime(small_limits())).await;
    let error = only_the_trigger_failed(&env, &summary);
    eprintln!("probe: {error}");
    let probes = error
        .strip_prefix("transport: ")
        .unwrap_or_else(|| panic!("{error}"));
    let results: Vec<(&str, &str)> = probes
        .split("; ")
        .map(|item| item.split_once('=').expect("name=result"))
        .collect();
    let names: Vec<&str> = results.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "read_dir",
            "read_dot",
            "read_passwd",
            "create_file",
            "env_vars",
            "args",
            "tcp_connect",
            "udp_bind",
            "resolve"
        ]
    );
    for (name, result) in &results {
        match *name {
            "env_vars" | "args" => assert_eq!(*result, "0", "{name}: {error}"),
            _ => assert!(result.starts_with("err "), "{name} worked: {error}"),
        }
    }
    tripwire.assert_untouched();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_contained() {
    let env = configured(code(PANIC, 0));
    let summary = sync(&env, hostile_runtime(small_limits())).await;
    let error = only_the_trigger_failed(&env, &summary);
    assert!(
        error.starts_with("the connector crashed (trap): wasm trap: wasm `unreachable` instruction executed; its stderr ended with: "),
        "{error}"
    );
    assert!(
        error.contains("panicked at tests/guests/hostile/src/lib.rs"),
        "{error}"
    );
    assert!(
        error.contains("the hostile guest panics on purpose"),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
    eprintln!("panic: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_log_stream_is_contained() {
    let env = configured(code(ENDLESS_LOG, 0));
    let limits = small_limits();
    let runtime = hostile_runtime(limits.clone());
    let summary = sync(&env, runtime.clone()).await;
    let error = only_the_trigger_failed(&env, &summary);
    assert_eq!(
        error,
        "the connector hit the CPU limit of 300ms of computation"
    );

    // A flood that ends (160 MiB of log lines, 1 MiB each of stdout and
    // stderr: more than a small CPU budget allows): the host keeps a
    // bounded log and says what it dropped.
    let limits = Limits::default();
    let runtime = hostile_runtime(limits.clone());
    let call = trigger_call(&runtime, &env, code(LOG_FLOOD, 0))
        .await
        .expect("the call completes");
    assert_eq!(
        call.value,
        Err(ConnectorError::Transport("flooded the log".into()))
    );
    assert!(
        call.log.len() <= limits.max_log_lines + 1,
        "{}",
        call.log.len()
    );
    assert!(
        call.log
            .iter()
            .all(|l| l.message.len() <= limits.max_log_line_bytes)
    );
    let last = &call.log.last().unwrap().message;
    assert!(last.contains("more log lines were dropped"), "{last}");
    assert_eq!(call.exchanges, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enormous_result_is_contained() {
    // Room for the guest to build its answers: the host, not the memory
    // cap, must contain them.
    let limits = Limits {
        memory_bytes: 128 * 1024 * 1024,
        cpu_time: Duration::from_secs(3),
        wall_clock: Duration::from_secs(20),
        ..small_limits()
    };
    let runtime = hostile_runtime(limits.clone());

    // 300,000 result lines for one request line: refused whole, nothing of
    // it reaches history.
    let env = configured(code(HUGE_REPORT, 0));
    let summary = sync(&env, runtime.clone()).await;
    let error = only_the_trigger_failed(&env, &summary);
    assert_eq!(
        error,
        "the connector broke the seatsync:psa contract: \
         the sync report has 300000 lines for a request of 1"
    );
    let run = summary.run.as_ref().unwrap();
    let store = env.store();
    assert!(store.run_lines(run.id).unwrap().len() < 20);

    // A 32 MiB error message: cut to the host's line length.
    import_usage(&env, code(HUGE_ERROR, 0));
    let summary = sync(&env, runtime).await;
    let error = only_the_trigger_failed(&env, &summary);
    assert!(error.starts_with("transport: zzzz"), "{}", &error[..40]);
    assert!(error.ends_with("z…"), "the cut is marked");
    assert!(
        error.len() <= limits.max_log_line_bytes + 20,
        "{} bytes",
        error.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_never_returns_is_stopped_by_the_wall_clock() {
    let env = configured(code(STALL, 0));
    let summary = sync(&env, hostile_runtime(small_limits())).await;
    let error = only_the_trigger_failed(&env, &summary);
    assert_eq!(error, "the connector call hit the wall-clock limit of 3s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_keeps_running_past_a_hostile_component() {
    let env = configured(code(SPIN, 0));
    let clock = FakeClock::at("2026-11-27T05:59:00Z");
    let mut store = Store::open_with_key(env.db(), env.keys()).unwrap();
    let store_clock = clock.clone();
    store.set_clock(Arc::new(move || store_clock.now()));
    let options = DaemonOptions {
        max_slots: Some(2),
        retry_pause: None,
        ..DaemonOptions::new("default", NaiveTime::from_hms_opt(6, 0, 0).unwrap())
    };
    let mut slots = Vec::new();
    daemon::run(
        &store,
        hostile_runtime(small_limits()),
        &clock,
        &options,
        std::future::pending(),
        |slot, result| {
            let SlotResult::Synced(summary) = result else {
                panic!("slot {slot}: {result:?}");
            };
            let failed: Vec<_> = summary
                .orgs
                .iter()
                .filter_map(|o| {
                    o.result
                        .as_ref()
                        .err()
                        .map(|e| (o.plan.org_id.clone(), e.clone()))
                })
                .collect();
            let run = summary.run.as_ref().unwrap();
            slots.push((slot.to_rfc3339(), run.totals.orgs, failed));
        },
    )
    .await
    .expect("the daemon runs");
    let cpu = "the connector hit the CPU limit of 300ms of computation".to_string();
    assert_eq!(
        slots,
        [
            (
                "2026-11-27T06:00:00+00:00".to_string(),
                12,
                vec![(TRIGGER_ORG.to_string(), cpu.clone())]
            ),
            (
                "2026-11-28T06:00:00+00:00".to_string(),
                12,
                vec![(TRIGGER_ORG.to_string(), cpu)]
            ),
        ]
    );
    assert_eq!(&state(&env), baseline());
    assert_eq!(store.list_runs("default", 10).unwrap().len(), 2);
}

/// A component that writes although the host asked for a dry run: the
/// host's sender refuses every write of a dry-run call, so ConnectWise is
/// not changed, and the host logs why.
#[test]
fn writes_during_a_dry_run_are_refused_by_the_host() {
    let env = configured(code(WRITES_IN_DRY_RUN, 0));
    let before = state(&env);
    env.sim.reset_counts();
    let run = env.run(&["sync", "--dry-run", "--plugin", GUEST, "--json"]);
    assert_eq!(env.sim.counts().writes, 0, "nothing was written");
    assert_eq!(state(&env), before);
    let json: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let trigger = json["organizations"]
        .as_array()
        .expect("organizations")
        .iter()
        .find(|o| o["org_id"] == TRIGGER_ORG)
        .expect("the trigger organization has a result")
        .to_string();
    // The component sees its POST fail (waki reports the refused body
    // stream as closed, so the connector cannot tell a refusal from a lost
    // answer) and fails the line without posting again.
    assert!(trigger.contains("\"Failed\""), "{trigger}");
    let logged = run
        .stderr
        .lines()
        .find(|l| l.contains("request refused by the sandbox"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{}", run.stderr));
    assert!(logged.contains("a dry run may not write"), "{logged}");
}

// Instance reuse (`host-harness/src/runtime/warm.rs`): a call that returned
// normally leaves its instance for the next call of the same connection.

/// A connection like the demo's, with its own keys.
fn other_connection(env: &Env, public_key: &str) -> Settings {
    let mut conn = tests_connection(&env.site());
    conn.set("public-key", public_key);
    conn.set("private-key", format!("{public_key}-private-key"));
    conn
}

/// The public keys the instance that served this `REMEMBER` call has
/// served, this call's included.
async fn served(runtime: &Runtime, env: &Env, conn: &Settings) -> String {
    served_count(runtime, env, conn).await.1
}

/// How many calls the instance that served this `REMEMBER` call has
/// served, and their public keys (cut short past a few hundred).
async fn served_count(runtime: &Runtime, env: &Env, conn: &Settings) -> (usize, String) {
    let call = trigger_call_as(runtime, env, conn, code(REMEMBER, 0), false)
        .await
        .expect("the call completes");
    match call.value {
        Err(ConnectorError::InvalidConfig(message)) => {
            let (count, keys) = message
                .strip_prefix("served ")
                .and_then(|m| m.split_once(": "))
                .unwrap_or_else(|| panic!("{message}"));
            (count.parse().expect("a count"), keys.to_string())
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serves_one_connection_and_is_dropped_after_a_failure() {
    let env = configured(25);
    let runtime = hostile_runtime(Limits::default());
    let a = tests_connection(&env.site());
    let key_a = a.get("public-key").unwrap_or_default().to_string();
    let b = other_connection(&env, "other-public-key");
    let twice = format!("{key_a},{key_a}");

    assert_eq!(served(&runtime, &env, &a).await, key_a, "a new instance");
    assert_eq!(
        served(&runtime, &env, &a).await,
        twice,
        "the same one again"
    );
    // Another connection never gets an instance that saw A's keys.
    assert_eq!(served(&runtime, &env, &b).await, "other-public-key");
    assert_eq!(
        served(&runtime, &env, &a).await,
        format!("{twice},{key_a}"),
        "A's instance was kept while B ran"
    );

    // A trap: that instance is gone, the next call starts afresh.
    let trapped = trigger_call(&runtime, &env, code(PANIC, 0)).await;
    assert!(
        matches!(
            trapped,
            Err(CallFailed {
                error: RuntimeError::Trap(_),
                ..
            })
        ),
        "{trapped:?}"
    );
    assert_eq!(
        served(&runtime, &env, &a).await,
        key_a,
        "fresh after a trap"
    );

    // A call that returned with a request still pending (a POST whose body
    // it never finished): not kept, or the request would go on outside any
    // call, and a later call could finish it.
    let pending = trigger_call(&runtime, &env, code(LEAVES_A_REQUEST_PENDING, 0))
        .await
        .expect("returns");
    assert!(
        matches!(&pending.value, Err(ConnectorError::Transport(m)) if m == "left a request pending"),
        "{:?}",
        pending.value
    );
    assert_eq!(
        served(&runtime, &env, &a).await,
        key_a,
        "fresh after a pending request"
    );

    // A call that grew the memory past a quarter of the limit (a 32 MiB
    // error) returned normally, but its instance is not kept.
    let huge = trigger_call(&runtime, &env, code(HUGE_ERROR, 0)).await;
    assert!(huge.is_ok(), "{huge:?}");
    assert_eq!(
        served(&runtime, &env, &a).await,
        key_a,
        "fresh after a memory hog"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_pool_is_shared_by_many_connections_at_once() {
    let env = Arc::new(configured(25));
    let runtime = hostile_runtime(Limits {
        instance_pool: Some(2),
        ..Limits::default()
    });
    let keys = ["key-one", "key-two", "key-three"];
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..12 {
        let runtime = runtime.clone();
        let env_site = env.site();
        let key = keys[i % keys.len()];
        let mut conn = tests_connection(&env_site);
        conn.set("public-key", key);
        conn.set("private-key", format!("{key}-private-key"));
        let env = env.clone();
        calls.spawn(async move { (key, served(&runtime, &env, &conn).await) });
    }
    let mut answered = 0;
    while let Some(done) = calls.join_next().await {
        let (key, served) = done.expect("no panic");
        // However the two slots were shared, an instance only ever served
        // one connection.
        assert!(
            served.split(',').all(|k| k == key),
            "{key}'s call ran in an instance that served {served}"
        );
        answered += 1;
    }
    assert_eq!(answered, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_instance_gets_the_dry_run_of_its_own_call() {
    let env = configured(25);
    let runtime = hostile_runtime(Limits::default());
    let conn = tests_connection(&env.site());
    let writes_anyway = code(WRITES_IN_DRY_RUN, 0);
    env.sim.reset_counts();

    // The guest writes although it is a dry run: refused.
    let dry = trigger_call_as(&runtime, &env, &conn, writes_anyway, true)
        .await
        .expect("completes");
    assert_eq!((dry.writes, env.sim.counts().writes), (0, 0));
    assert!(
        dry.exchanges.iter().any(|e| e.denied),
        "{:?}",
        dry.exchanges
    );

    // The same instance, a real run: the write goes through.
    let real = trigger_call_as(&runtime, &env, &conn, writes_anyway, false)
        .await
        .expect("completes");
    assert!(real.value.is_ok(), "{:?}", real.value);
    assert_eq!((real.writes, env.sim.counts().writes), (1, 1));

    // And a dry run again is refused again (the addition now exists, so the
    // guest would update it).
    let again = trigger_call_as(&runtime, &env, &conn, writes_anyway + 1, true)
        .await
        .expect("completes");
    assert_eq!((again.writes, env.sim.counts().writes), (0, 1));
    assert!(
        again.exchanges.iter().any(|e| e.denied),
        "{:?}",
        again.exchanges
    );
}

/// A call that wrote and then trapped: the write happened, so the
/// organization's failure and the run's totals in history both count it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_made_before_a_trap_are_counted() {
    let env = configured(code(WRITES_THEN_PANICS, 0));
    env.sim.reset_counts();
    let summary = sync(&env, hostile_runtime(small_limits())).await;
    let sim = env.sim.counts();
    let trigger = summary
        .orgs
        .iter()
        .find(|o| o.plan.org_id == TRIGGER_ORG)
        .expect("the trigger organization has a result");
    let error = trigger.result.as_ref().expect_err("it trapped");
    assert!(
        error.contains("the hostile guest panics after writing"),
        "{error}"
    );
    assert_eq!(
        (trigger.requests, trigger.writes),
        (2, 1),
        "one read, one create"
    );
    let run = summary.run.as_ref().expect("recorded");
    assert_eq!(
        run.totals.writes, sim.writes,
        "history counts every write ConnectWise saw"
    );
    assert_eq!(
        run.totals.requests + u64::from(summary.check_requests),
        sim.total,
        "and every request"
    );
    let store = env.store();
    let stored = store.list_runs("default", 1).unwrap();
    assert_eq!(stored[0].totals, run.totals, "as stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serves_at_most_a_thousand_calls() {
    let env = configured(25);
    let runtime = hostile_runtime(Limits::default());
    let conn = tests_connection(&env.site());
    for call in 1..=1_000 {
        let (count, _) = served_count(&runtime, &env, &conn).await;
        assert_eq!(count, call, "one instance so far");
    }
    let (count, _) = served_count(&runtime, &env, &conn).await;
    assert_eq!(count, 1, "a new instance after 1,000 calls");
}
