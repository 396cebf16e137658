//! Secrets: the private key and the Authorization header stay in the
//! database and on the wire's Authorization header. Every output of the
//! binary in these tests is also checked by `common::assert_no_secret`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use common::{Env, assert_no_secret, shared_cache_dir};
use seatsync_fixtures::{DEMO_PRIVATE_KEY, FaultAction, Faults, ScriptedFault};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn sidecar(env: &Env, suffix: &str) -> std::path::PathBuf {
    let mut s = env.db().into_os_string();
    s.push(suffix);
    s.into()
}

/// The database (which holds the key) is created 0600, its -wal and -shm
/// too; a database left readable by others is tightened on open.
#[test]
fn the_database_and_its_wal_are_created_private() {
    let env = Env::new();
    assert_eq!(env.connect().status, 0);
    assert_eq!(mode(&env.db()), 0o600);
    // The WAL exists while a connection is open and has written.
    let store = env.store();
    store
        .set_data_type("default", seatsync_host::store::DataType::Packages, true)
        .unwrap();
    for suffix in ["-wal", "-shm"] {
        assert_eq!(mode(&sidecar(&env, suffix)), 0o600, "{suffix}");
    }
    drop(store);

    std::fs::set_permissions(env.db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    env.ok(&["orgs"]);
    assert_eq!(mode(&env.db()), 0o600, "tightened back");
}

/// Every table and JSON output, the history, and every log line at the most
/// verbose level, after a run with failures, hold no key.
#[test]
fn no_output_holds_the_key() {
    let env = Env::new();
    assert_eq!(env.connect().status, 0);
    env.configure();
    // A failure whose message passes through the report and history.
    env.sim.push_fault(ScriptedFault::new(
        "GET",
        "/finance/agreements/102/additions",
        FaultAction::Unauthorized,
    ));
    let trace = [("SEATSYNC_LOG", "trace")];
    let mut outputs = Vec::new();
    for args in [
        &["test-connection"][..],
        &["sync"],
        &["sync", "--json"],
        &["sync", "--dry-run", "--json"],
        &["history"],
        &["history", "--json"],
        &["history", "--run", "1"],
        &["history", "--run", "1", "--json"],
        &["packages"],
        &["packages", "--json"],
        &["orgs"],
        &["orgs", "--json"],
        &["agreements", "--company", "254"],
        &["agreements", "--company", "254", "--json"],
        &["companies", "--json"],
    ] {
        // `run_with_env` checks stdout and stderr with `assert_no_secret`.
        let run = env.run_with_env(args, &trace);
        outputs.push(run.stdout + &run.stderr);
    }
    let all = outputs.join("\n");
    assert!(
        all.contains("rejected the credentials"),
        "the failure was reported"
    );
    assert!(
        all.contains("TRACE") || all.contains("DEBUG"),
        "logs were on"
    );
    assert_no_secret(&all);
}

/// ConnectWise echoing the key back in an error body (as some proxies and
/// validation errors do): the report, the history and the logs still hold
/// no key.
#[test]
fn a_key_echoed_by_connectwise_is_not_repeated() {
    let env = Env::new();
    env.configure();
    env.sim.set_faults(Faults {
        scripted: vec![
            ScriptedFault::new(
                "GET",
                "/finance/agreements/102/additions",
                FaultAction::json(
                    400,
                    "InvalidRequest",
                    &format!("The key {DEMO_PRIVATE_KEY} is not valid here."),
                ),
            ),
            // And on a create: a failed line rather than a failed organization.
            ScriptedFault::new(
                "POST",
                "/finance/agreements/108/additions",
                FaultAction::json(
                    400,
                    "InvalidObject",
                    &format!("key {DEMO_PRIVATE_KEY} rejected; is not valid here"),
                ),
            ),
        ],
        ..Faults::default()
    });
    let run = env.run_with_env(&["sync", "--json"], &[("SEATSYNC_LOG", "debug")]);
    assert_eq!(
        run.stdout.matches("is not valid here").count(),
        2,
        "{}",
        run.stdout
    );
    let history = env.run(&["history", "--run", "1", "--json"]);
    assert!(history.stdout.contains("is not valid here"));
}

/// The same for the commands that print a connector error directly
/// (`test-connection`, the lists, `map`): ConnectWise's words are shown,
/// the key it echoed is not.
#[test]
fn a_key_echoed_in_a_listing_error_is_not_repeated() {
    let env = Env::new();
    env.configure();
    let echo = FaultAction::json(
        400,
        "InvalidRequest",
        &format!("The key {DEMO_PRIVATE_KEY} is not valid here."),
    );
    env.sim.set_faults(Faults {
        scripted: vec![
            ScriptedFault::new("GET", "/system/info", echo.clone()),
            ScriptedFault::new("GET", "/procurement/catalog", echo.clone()),
            ScriptedFault::new("GET", "/company/companies", echo),
        ],
        ..Faults::default()
    });
    // `run` itself fails the test if the key is in stdout or stderr.
    for args in [
        &["test-connection"][..],
        &["products"],
        &[
            "map",
            "org",
            "pe-100482",
            "--company",
            "254",
            "--agreement",
            "102",
        ],
    ] {
        let run = env.run(args);
        assert_eq!(run.status, 1, "{args:?}");
        assert!(
            run.stderr.contains("is not valid here") && run.stderr.contains("[redacted]"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// On the wire and in the runtime's records, the key appears only inside
/// the Authorization header: never in a URL, query, body or other header
/// (the simulator replaces the key with "[redacted]" wherever it finds it,
/// so any "[redacted]" outside Authorization is a leak), and the runtime's
/// logged exchanges and log lines hold neither the key nor the header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_goes_only_in_the_authorization_header() {
    use seatsync_contract::{SyncLine, SyncRequest};
    use seatsync_host::runtime::{NetworkPolicy, Runtime, RuntimeOptions};

    let env = Env::new();
    let runtime = Arc::new(
        Runtime::new(
            seatsync_host::DEFAULT_COMPONENT,
            RuntimeOptions {
                cache_dir: Some(shared_cache_dir()),
                ..RuntimeOptions::default()
            },
        )
        .expect("the component loads"),
    );
    let conn = seatsync_tests::demo_settings(&env.site());
    let plan = runtime.plan_network(&conn).await.unwrap().value.unwrap();
    let site = NetworkPolicy::from_plan(&plan, true).expect("a loopback site");
    // A 503 after the create forces the read-back path too.
    env.sim.push_fault(
        ScriptedFault::new(
            "POST",
            "/finance/agreements/108/additions",
            FaultAction::service_unavailable(),
        )
        .after_apply(),
    );
    let mut records = Vec::new();
    let call = runtime.test_connection(&site, &conn).await.unwrap();
    assert!(call.value.is_ok());
    records.push(format!("{:?}\n{:?}", call.log, call.exchanges));
    let call = runtime.list_products(&site, &conn).await.unwrap();
    assert!(call.value.is_ok());
    records.push(format!("{:?}\n{:?}", call.log, call.exchanges));
    let request = SyncRequest {
        company_id: 259,
        contract_id: 108,
        lines: vec![SyncLine {
            package_key: "business".into(),
            product_id: 19,
            quantity: 12,
            options: Default::default(),
            description: None,
        }],
        dry_run: false,
        today: common::today(),
        start_date: common::today(),
        update_quantities: true,
        create_missing: true,
    };
    let call = runtime
        .sync_organization(&site, &conn, &request)
        .await
        .unwrap();
    assert!(call.value.is_ok(), "{:?}", call.value);
    assert!(call.exchanges.len() >= 3, "read, create, read back");
    records.push(format!("{:?}\n{:?}", call.log, call.exchanges));
    let mut bad = conn.clone();
    bad.set("private-key", format!("{DEMO_PRIVATE_KEY}-wrong"));
    let call = runtime.test_connection(&site, &bad).await.unwrap();
    assert!(call.value.is_err());
    records.push(format!(
        "{:?}\n{:?}\n{:?}",
        call.log, call.exchanges, call.value
    ));
    for record in &records {
        assert_no_secret(record);
        assert!(
            !record.contains("[redacted]"),
            "a URL held the key: {record}"
        );
    }

    let log = env.sim.request_log();
    assert!(log.len() >= 6);
    for r in &log {
        assert_eq!(r.header("authorization"), Some("Basic [redacted]"), "{r:?}");
        let mut r = r.clone();
        r.headers.retain(|(k, _)| k != "authorization");
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            !text.contains("[redacted]"),
            "the key was sent outside the Authorization header: {text}"
        );
        assert_no_secret(&text);
    }
}
