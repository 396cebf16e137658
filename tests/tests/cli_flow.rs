//! The whole MSP flow through the real `seatsync` binary, which runs the real
//! connector component in its sandbox, against the loopback ConnectWise
//! simulator: connect, list, import, map, dry run, sync, re-sync, a usage
//! change, and switches turned off. After each step, the requests ConnectWise
//! received and its additions are snapshotted.

mod common;

use common::{Env, demo_agreements};
use insta::assert_snapshot;
use seatsync_fixtures::demo;
use serde_json::Value;

fn json(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

#[test]
fn connect_list_import_map_dry_run_sync_resync() {
    let env = Env::new();

    // Connect: tested, then stored.
    let connected = env.connect();
    assert_eq!(connected.status, 0, "{}", connected.stderr);
    assert_snapshot!("connect_stdout", env.redact(&connected.stdout));
    env.sim.clear_log();

    // Lists come back whole.
    let products = json(&env.ok(&["products", "--json"]));
    assert_eq!(products.as_array().map(Vec::len), Some(1234));
    let agreements = json(&env.ok(&["agreements", "--company", "254", "--json"]));
    assert!(
        agreements
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["company_id"] == 254)
    );
    assert_snapshot!("list_requests", env.requests().join("\n"));

    // Usage and mappings.
    let usage = env.file("usage.csv", demo::USAGE_CSV);
    let imported = env.ok(&["usage", "import", usage.to_str().unwrap()]);
    assert!(
        imported
            .stdout
            .contains("Imported 16 rows for 13 organizations"),
        "{}",
        imported.stdout
    );
    env.map_demo();
    assert_snapshot!("orgs_table", env.ok(&["orgs"]).stdout);

    // Dry run: one read per organization, zero writes, nothing changed.
    let before = env.sim.state_dump_for(&demo_agreements());
    env.sim.clear_log();
    env.sim.reset_counts();
    let dry = env.run(&["sync", "--dry-run", "--json"]);
    assert_eq!(
        dry.status, 2,
        "the demo tenant has a conflict, so the exit status says attention"
    );
    let dry = json(&dry);
    assert_eq!(env.sim.counts().writes, 0);
    assert_eq!(
        env.sim.counts().total,
        1 + 12,
        "one list of agreements for the run, then one request per organization"
    );
    assert_eq!(env.sim.state_dump_for(&demo_agreements()), before);
    assert_eq!(dry["run"]["totals"]["writes"], 0);

    // Sync: exactly the writes the dry run announced.
    env.sim.clear_log();
    env.sim.reset_counts();
    let synced = env.run_with_env(&["sync"], &[("SEATSYNC_LOG", "seatsync::http=info")]);
    assert_eq!(synced.status, 2, "attention: the conflict on agreement 115");
    assert_eq!(
        env.sim.counts().writes,
        8,
        "4 created + 4 updated, as the dry run said"
    );
    assert_eq!(dry["run"]["totals"]["created"], 4);
    assert_eq!(dry["run"]["totals"]["updated"], 4);
    assert_snapshot!("sync_table", synced.stdout);
    assert_snapshot!("sync_requests", env.requests().join("\n"));
    // The host's own log of the exchanges says the same as the simulator's.
    let exchanges = host_exchanges(&env, &synced.stderr);
    assert_eq!(exchanges.len(), env.sim.request_log().len());
    assert_snapshot!("sync_host_exchanges", exchanges.join("\n"));
    assert_snapshot!("state_after_sync", env.state(&demo_agreements()));

    // Re-sync: one request per organization, zero writes.
    env.sim.clear_log();
    env.sim.reset_counts();
    let again = json(&env.run(&["sync", "--json"]));
    assert_eq!(env.sim.counts().writes, 0);
    assert_eq!(env.sim.counts().total, 1 + 12);
    for org in again["organizations"].as_array().unwrap() {
        assert_eq!(org["requests"], 1, "{org}");
        assert_eq!(org["writes"], 0, "{org}");
    }

    // History holds the three runs.
    let history = json(&env.ok(&["history", "--json"]));
    let kinds: Vec<(bool, i64)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["dry_run"].as_bool().unwrap(),
                r["totals"]["writes"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [(false, 0), (false, 8), (true, 0)]);
}

/// Only the additions whose counts changed are patched; disabled switches
/// leave their additions alone.
#[test]
fn usage_changes_and_switches() {
    let mut env = Env::new();
    // Several organizations at once, as by default.
    env.concurrency = 4;
    env.set_up_through_cli(demo::USAGE_CSV);
    env.run(&["sync"]);

    // Contoso's business count 42 -> 45 and Fabrikam's advanced 21 -> 19.
    let changed = demo::USAGE_CSV
        .replace(
            "pe-100482,Contoso,business,42",
            "pe-100482,Contoso,business,45",
        )
        .replace(
            "pe-100517,\"Fabrikam, Inc.\",advanced,21",
            "pe-100517,\"Fabrikam, Inc.\",advanced,19",
        );
    assert_ne!(
        changed,
        demo::USAGE_CSV,
        "the demo usage has the rows this test changes"
    );
    let file = env.file("usage2.csv", &changed);
    env.ok(&["usage", "import", file.to_str().unwrap()]);
    env.sim.clear_log();
    env.sim.reset_counts();
    env.run(&["sync"]);
    let writes: Vec<String> = env
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET"))
        .collect();
    assert_snapshot!("usage_change_writes", writes.join("\n"));
    assert_eq!(env.sim.counts().total, 1 + 12 + 2);

    // Switch things off, change their counts, sync: untouched.
    env.ok(&["disable", "org", "pe-100482"]);
    env.ok(&["disable", "package", "professional"]);
    env.ok(&["disable", "data", "user-counts"]);
    let changed = changed
        .replace(
            "pe-100482,Contoso,business,45",
            "pe-100482,Contoso,business,50",
        )
        .replace(
            "pe-100729,Lamna Healthcare Company,professional,120",
            "pe-100729,Lamna Healthcare Company,professional,125",
        )
        .replace(
            "pe-100812,Trey Research,business,33",
            "pe-100812,Trey Research,business,34",
        );
    let file = env.file("usage3.csv", &changed);
    env.ok(&["usage", "import", file.to_str().unwrap()]);
    let before = env.sim.state_dump_for(&demo_agreements());
    env.sim.reset_counts();
    let run = json(&env.run(&["sync", "--json"]));
    assert_eq!(env.sim.counts().writes, 0, "every change is switched off");
    assert_eq!(env.sim.state_dump_for(&demo_agreements()), before);
    let orgs: Vec<&str> = run["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["org_id"].as_str().unwrap())
        .collect();
    assert!(
        !orgs.contains(&"pe-100482"),
        "a disabled organization is not synced"
    );
    assert!(!orgs.contains(&"pe-100729"), "its only package is disabled");
    let trey = run["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["org_id"] == "pe-100812")
        .unwrap();
    assert_eq!(
        trey["report"]["lines"][0]["outcome"]["Skipped"]
            .as_str()
            .map(|s| s.contains("user-counts")),
        Some(true),
        "{trey}"
    );

    // Switched back on, the pending changes go through.
    env.ok(&["enable", "data", "user-counts"]);
    env.sim.reset_counts();
    env.run(&["sync"]);
    assert_eq!(env.sim.counts().writes, 1, "Trey Research's count");
}

/// The host's exchange log lines (`SEATSYNC_LOG=seatsync::http=info`) as
/// `METHOD URL -> STATUS`, sorted, with the port and today's date redacted
/// and the timing left out.
fn host_exchanges(env: &Env, stderr: &str) -> Vec<String> {
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    let mut lines: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("seatsync::http") && l.contains(" exchange "))
        .map(|l| {
            let (method, url, status) = (field(l, "method"), field(l, "url"), field(l, "status"));
            env.redact(&format!(
                "{} {} -> {}",
                method.unwrap_or_default(),
                url.unwrap_or_default(),
                status.unwrap_or_default()
            ))
        })
        .collect();
    lines.sort();
    lines
}

/// The connector as released for contract 0.1.0, frozen in `tests/artifacts`
/// (built from the commit that introduced it): what an MSP who built or
/// downloaded a connector before 0.2 still runs with `--plugin`.
const CONNECTOR_0_1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/artifacts/seatsync-connector-v0.1.0.wasm"
);

/// The host runs components of every contract version it supports: the 0.1
/// connector connects, lists, maps and syncs through the binary, ends with
/// the same additions as the built-in 0.2 connector, and a re-sync writes
/// nothing.
#[test]
fn a_connector_built_for_contract_0_1_still_connects_maps_and_syncs() {
    let env = Env::new();
    let with_plugin = |args: &[&str]| -> Vec<String> {
        ["--plugin", CONNECTOR_0_1]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: &[&str]| {
        let args = with_plugin(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.run(&args)
    };

    let site = env.site();
    let connect = with_plugin(&[
        "connect",
        "--site",
        &site,
        "--company-id",
        seatsync_fixtures::DEMO_COMPANY_ID,
        "--public-key",
        seatsync_fixtures::DEMO_PUBLIC_KEY,
        "--client-id",
        seatsync_fixtures::DEMO_CLIENT_ID,
        "--private-key-stdin",
        "--allow-http",
    ]);
    let connect: Vec<&str> = connect.iter().map(String::as_str).collect();
    let connected = env.run_with_stdin(&connect, seatsync_fixtures::DEMO_PRIVATE_KEY);
    assert_eq!(connected.status, 0, "{}", connected.stderr);

    let products = run(&["products", "--json"]);
    assert_eq!(products.status, 0, "{}", products.stderr);
    assert_eq!(json(&products).as_array().map(Vec::len), Some(1234));

    let usage = env.file("usage.csv", demo::USAGE_CSV);
    let imported = run(&["usage", "import", usage.to_str().expect("a UTF-8 path")]);
    assert_eq!(imported.status, 0, "{}", imported.stderr);
    let mappings = demo::mappings();
    for (key, m) in &mappings.packages {
        let product = m.product_id.to_string();
        let taxable = format!("taxable={}", m.taxable);
        let mapped = run(&[
            "map",
            "package",
            key,
            "--product",
            &product,
            "--bill",
            &m.bill_customer,
            "--option",
            &taxable,
        ]);
        assert_eq!(mapped.status, 0, "{}", mapped.stderr);
    }
    for (org, m) in &mappings.organizations {
        let (company, agreement) = (m.company_id.to_string(), m.agreement_id.to_string());
        let mapped = run(&[
            "map",
            "org",
            org,
            "--company",
            &company,
            "--agreement",
            &agreement,
        ]);
        assert_eq!(mapped.status, 0, "{}", mapped.stderr);
    }

    let synced = run(&["sync", "--json"]);
    assert_eq!(
        synced.status, 2,
        "only 115's conflict needs attention:\n{}\n{}",
        synced.stdout, synced.stderr
    );
    assert_eq!(
        common::normalized_state(&env.sim),
        common::reference_state(),
        "the 0.1 connector writes what the built-in one writes"
    );

    let writes = env.sim.counts().writes;
    let resynced = run(&["sync", "--json"]);
    assert_eq!(resynced.status, 2, "{}", resynced.stderr);
    assert_eq!(env.sim.counts().writes, writes, "a re-sync writes nothing");
}
