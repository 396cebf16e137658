//! The runtime's network against the ConnectWise simulator: what a sync
//! costs in requests and writes, pooled connections, and the native
//! baseline behind the same sender. (Speed is the benchmark's business,
//! `cargo bench -p seatsync-host --bench sync`; nothing here is timed.)

mod runtime_support;
#[path = "../benches/support/mod.rs"]
mod support;

use seatsync_contract::LineOutcome;
use seatsync_fixtures::{SimConfig, Simulator};
use seatsync_host::runtime::{Limits, NetworkPolicy, Runtime, RuntimeOptions};

const ORGS: usize = 20;

fn unpaced_runtime() -> Runtime {
    Runtime::new(
        seatsync_host::DEFAULT_COMPONENT,
        RuntimeOptions {
            cache_dir: Some(runtime_support::shared_cache_dir()),
            limits: Limits {
                requests_per_minute: None,
                ..Limits::default()
            },
        },
    )
    .expect("the embedded component loads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_costs_one_read_per_organization_plus_one_write_per_changed_line() {
    let sim = Simulator::start(SimConfig {
        tenant: support::tenant(ORGS),
        clock: format!("{}T12:00:00Z", support::DAY),
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts");
    let site = format!("http://{}", sim.site());
    let runtime = unpaced_runtime();
    let policy = support::policy(&runtime, &site).await;
    let conn = support::connection(&site);

    // First sync: one read, then one create per package.
    for i in 0..ORGS {
        let call = runtime
            .sync_organization(&policy, &conn, &support::request(i, false))
            .await
            .expect("the call completes");
        let report = call.value.expect("the sync succeeds");
        assert!(
            report
                .lines
                .iter()
                .all(|l| l.outcome == LineOutcome::Created)
        );
        assert_eq!((call.requests, call.writes), (4, 3), "org {i}");
    }
    // Re-sync: exactly one request, no write.
    for i in 0..ORGS {
        let call = runtime
            .sync_organization(&policy, &conn, &support::request(i, false))
            .await
            .expect("the call completes");
        assert!(call.value.is_ok());
        assert_eq!((call.requests, call.writes), (1, 0), "org {i}");
    }
    // A tenth of the counts changed: one read plus one write per changed line.
    let mut total = (0, 0);
    for i in 0..ORGS {
        let call = runtime
            .sync_organization(&policy, &conn, &support::request(i, true))
            .await
            .expect("the call completes");
        let changed = (0..3).filter(|&p| support::is_changed(i, p)).count() as u32;
        let report = call.value.expect("the sync succeeds");
        let updated = report
            .lines
            .iter()
            .filter(|l| matches!(l.outcome, LineOutcome::Updated { .. }))
            .count() as u32;
        assert_eq!(updated, changed, "org {i}");
        assert_eq!(
            (call.requests, call.writes),
            (1 + changed, changed),
            "org {i}"
        );
        total.0 += call.requests;
        total.1 += call.writes;
    }
    let changed_rows = support::changed_rows(ORGS) as u32;
    assert_eq!(total, (ORGS as u32 + changed_rows, changed_rows));
    assert_eq!(
        sim.counts().total,
        (4 + 1) * ORGS as u64 + u64::from(total.0)
    );

    // One call after the other: the simulator keeps connections alive, so
    // nearly every request went over a reused one.
    let stats = runtime.connection_stats();
    let sent = sim.counts().total;
    assert_eq!(stats.opened + stats.reused, sent);
    assert!(stats.opened * 10 < sent, "{stats:?} for {sent} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_baseline_does_the_same_work_through_the_same_sender() {
    let sim = Simulator::start(SimConfig {
        tenant: support::tenant(4),
        clock: format!("{}T12:00:00Z", support::DAY),
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts");
    let site = format!("http://{}", sim.site());
    let runtime = unpaced_runtime();
    let policy = support::policy(&runtime, &site).await;
    let conn = support::connection(&site);

    // Organizations 0 and 1 sandboxed, 2 and 3 native: the same work. (The
    // native report is in the connector's own types: compare outcomes by
    // name.)
    let mut outcomes = Vec::new();
    for i in 0..4 {
        let request = support::request(i, false);
        let (requests, writes, exchanges, lines) = if i < 2 {
            let call = runtime
                .sync_organization(&policy, &conn, &request)
                .await
                .expect("the call completes");
            let report = call.value.expect("the sync succeeds");
            let lines: Vec<String> = report
                .lines
                .iter()
                .map(|l| format!("{} {} {:?}", l.package_key, l.quantity, l.outcome))
                .collect();
            (call.requests, call.writes, call.exchanges, lines)
        } else {
            let call = support::native_sync_organization(&runtime, &policy, &conn, &request)
                .await
                .expect("the call completes");
            let report = call.value.expect("the sync succeeds");
            let lines: Vec<String> = report
                .lines
                .iter()
                .map(|l| format!("{} {} {:?}", l.package_key, l.quantity, l.outcome))
                .collect();
            (call.requests, call.writes, call.exchanges, lines)
        };
        assert_eq!((requests, writes), (4, 3), "org {i}");
        assert_eq!(exchanges.len(), 4);
        assert!(exchanges.iter().all(|e| e.status.is_some()));
        outcomes.push(lines);
    }
    for i in 0..4 {
        let request = support::request(i, true);
        let (requests, writes) = if i % 2 == 0 {
            let call = runtime
                .sync_organization(&policy, &conn, &request)
                .await
                .expect("the call completes");
            (call.requests, call.writes)
        } else {
            let call = support::native_sync_organization(&runtime, &policy, &conn, &request)
                .await
                .expect("the call completes");
            (call.requests, call.writes)
        };
        let changed = (0..3).filter(|&p| support::is_changed(i, p)).count() as u32;
        assert_eq!((requests, writes), (1 + changed, changed), "org {i}");
    }
    // Same products, same outcomes.
    assert_eq!(outcomes[0].len(), 3);
    for lines in &outcomes {
        assert!(lines.iter().all(|l| l.ends_with(" Created")), "{lines:?}");
    }

    // The native path is held to the same network policy.
    let elsewhere = NetworkPolicy {
        endpoints: vec![seatsync_contract::Endpoint::api("http", "127.0.0.2:9")],
        ..policy.clone()
    };
    let call =
        support::native_sync_organization(&runtime, &elsewhere, &conn, &support::request(0, false))
            .await
            .expect("the call completes");
    assert!(call.value.is_err());
    assert_eq!(call.requests, 0);
    assert!(call.exchanges.iter().all(|e| e.denied));
}
