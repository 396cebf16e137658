//! A ConnectWise site that throttles far below the host's default pace: the
//! host's pacer for the site pauses every call on a 429 and lowers the rate
//! (`host-harness/src/runtime/pacing.rs`), so a sync finishes right with few
//! requests answered 429. Counted in requests, not seconds.

mod common;
#[path = "../../host-harness/benches/support/mod.rs"]
mod support;

use std::time::Duration;

use common::Env;
use seatsync_fixtures::{Faults, RateLimit, SimConfig};
use serde_json::Value;

const ORGS: usize = 45;

#[test]
fn a_site_allowing_3_requests_a_second_gets_few_429s_and_every_line_right() {
    let mut env = Env::with_sim(SimConfig {
        tenant: support::tenant(ORGS),
        ..SimConfig::default()
    });
    env.concurrency = 4;
    support::store_tenant(&env.store(), "default", &env.site(), ORGS);
    // The first sync creates every addition, unthrottled.
    let first = env.run(&["sync", "--json"]);
    assert_eq!(first.status, 0, "{}", first.stderr);

    // Then a tenth of the counts change, and the site allows 3 requests a
    // second: 45 reads, 13 updates and the agreements check.
    env.store()
        .replace_usage("default", &support::usage(ORGS, true))
        .expect("usage");
    env.sim.set_faults(Faults {
        rate_limit: Some(RateLimit {
            max_requests: 3,
            window: Duration::from_secs(1),
            retry_after_secs: 1,
        }),
        ..Faults::default()
    });
    env.sim.clear_log();
    let run = env.run_with_env(
        &["sync", "--json"],
        &[("SEATSYNC_LOG", "warn,seatsync::http=info")],
    );
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(run.status, 0, "every organization synced:\n{report:#}");

    let log = env.sim.request_log();
    let throttled = log.iter().filter(|r| r.status == 429).count();
    let served = log.len() - throttled;
    println!("{throttled} of {} requests were answered 429", log.len());
    assert_eq!(served, 1 + ORGS + support::changed_rows(ORGS));
    assert!(
        throttled * 10 <= log.len(),
        "{throttled} of {} requests were answered 429",
        log.len()
    );
    assert!(
        run.stderr
            .contains("the site answered 429: pausing every request to it"),
        "the back-off is logged:\n{}",
        run.stderr
    );

    // Every line right: each addition has its organization's new count.
    for i in 0..ORGS {
        let additions = env.sim.additions(support::agreement_id(i) as u32);
        for (p, (_, product, _)) in support::PACKAGES.iter().enumerate() {
            let quantities: Vec<f64> = additions
                .iter()
                .filter(|a| a["product"]["id"] == *product)
                .map(|a| a["quantity"].as_f64().expect("a quantity"))
                .collect();
            assert_eq!(
                quantities,
                [f64::from(support::count(i, p, true))],
                "organization {i}, product {product}"
            );
        }
    }
}
