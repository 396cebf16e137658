//! A failing ConnectWise: the real binary (or, where a limit must be small,
//! the host's `sync_tenant` with the real component) against the
//! simulator's fault injection. Every test ends with a clear per-organization
//! error or the same additions as a fault-free run, and never with a
//! duplicate addition ([`common::assert_no_duplicate_additions`]).
//!
//! Faults are scripted to clear after a hit or two: the connector backs off
//! 0.5/1/2/4 s per request, so a fault that never clears costs 7.5 s.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    Env, assert_no_duplicate_additions, normalized_state, reference_state, shared_cache_dir,
    test_day,
};
use seatsync_fixtures::{DropKind, ErrorEvery, FaultAction, Faults, RateLimit, ScriptedFault};
use serde_json::{Value, json};

/// `seatsync sync --json`: the exit status and the report.
fn sync_json(env: &Env) -> (i32, Value) {
    let run = env.run(&["sync", "--json"]);
    let value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr));
    (run.status, value)
}

/// One organization's entry of a `sync --json` report, as text (its report
/// and its error), for substring checks.
fn org(report: &Value, org_id: &str) -> String {
    report["organizations"]
        .as_array()
        .expect("organizations")
        .iter()
        .find(|o| o["org_id"] == org_id)
        .unwrap_or_else(|| panic!("{org_id} is not in the report:\n{report:#}"))
        .to_string()
}

/// The organizations that failed as a whole or have a failed line.
fn failed_orgs(report: &Value) -> Vec<String> {
    report["organizations"]
        .as_array()
        .expect("organizations")
        .iter()
        .filter(|o| !o["error"].is_null() || o["report"].to_string().contains("\"Failed\""))
        .map(|o| o["org_id"].as_str().unwrap().to_string())
        .collect()
}

/// Requests the simulator received for `path` (below the API base).
fn hits(env: &Env, method: &str, path: &str) -> usize {
    let full = format!("/v4_6_release/apis/3.0{path}");
    env.sim
        .request_log()
        .iter()
        .filter(|r| r.method == method && r.path == full)
        .count()
}

/// Fault-free again, a sync converges on the reference: whatever the faults
/// left undone is done, nothing is done twice.
fn assert_heals(env: &Env) {
    env.sim.clear_faults();
    let (status, report) = sync_json(env);
    assert_eq!(
        status, 2,
        "only 115's conflict remains (attention):\n{report:#}"
    );
    assert_eq!(failed_orgs(&report), Vec::<String>::new(), "{report:#}");
    assert_no_duplicate_additions(&env.sim);
    assert_eq!(normalized_state(&env.sim), reference_state());
}

fn configured() -> Env {
    let env = Env::new();
    env.configure();
    env
}

/// The duplicate check itself can fail: a second active addition for a
/// managed product is caught, and so is a third one on 115.
#[test]
fn the_duplicate_check_catches_duplicates() {
    let env = configured();
    assert_no_duplicate_additions(&env.sim);
    let twin = json!({"product": {"id": 19}, "quantity": 42.0});
    env.sim.insert_addition(102, twin.clone()).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_no_duplicate_additions(&env.sim)
    }));
    assert!(
        caught.is_err(),
        "a second addition for 102/19 is a duplicate"
    );

    let env = configured();
    env.sim
        .insert_addition(115, json!({"product": {"id": 21}, "quantity": 30.0}))
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_no_duplicate_additions(&env.sim)
    }));
    assert!(caught.is_err(), "a third addition on 115 is a duplicate");

    // A cancelled twin is not active, so it is no duplicate.
    let env = configured();
    env.sim
        .insert_addition(
            102,
            json!({"product": {"id": 19}, "quantity": 1.0, "cancelledDate": "2020-01-31T00:00:00Z"}),
        )
        .unwrap();
    assert_no_duplicate_additions(&env.sim);
}

/// A request-rate limit that every organization runs into: each 429 is
/// waited out for exactly its Retry-After (1 s, where the back-off would
/// have been 0.5 s), and the run ends with the fault-free result. (The
/// host's pacer then slows the site down, so the storm is short: see
/// `throttling.rs`.)
#[test]
fn a_429_storm_is_waited_out_with_retry_after() {
    let mut env = configured();
    env.concurrency = 4;
    env.sim.set_faults(Faults {
        rate_limit: Some(RateLimit {
            max_requests: 5,
            window: Duration::from_secs(1),
            retry_after_secs: 1,
        }),
        ..Faults::default()
    });
    let run = env.run_with_env(
        &["sync", "--json"],
        &[("SEATSYNC_LOG", "warn,seatsync::connector=warn")],
    );
    let throttled = env
        .sim
        .request_log()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert!(throttled >= 1, "the site throttled: {throttled} 429s");
    assert!(
        run.stderr.contains("-> 429; retrying in 1000 ms"),
        "Retry-After is honoured:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("-> 429; retrying in 500 ms"),
        "a 429 waits for Retry-After, not the back-off:\n{}",
        run.stderr
    );
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(run.status, 2, "only the conflict (attention):\n{report:#}");
    assert_eq!(failed_orgs(&report), Vec::<String>::new(), "{report:#}");
    assert_no_duplicate_additions(&env.sim);
    assert_eq!(normalized_state(&env.sim), reference_state());
}

/// 429s that never stop are bounded (5 attempts), a Retry-After longer than
/// a call waits ends the request at once, and only those organizations fail,
/// each with a message saying to run again later. A 429 on a POST is retried
/// (a throttled request was not processed) and creates exactly once.
#[test]
fn endless_429s_are_bounded_and_fail_only_their_organization() {
    let mut env = configured();
    env.concurrency = 4;
    env.sim.set_faults(Faults {
        scripted: vec![
            ScriptedFault::new(
                "GET",
                "/finance/agreements/102/additions",
                FaultAction::RateLimited {
                    retry_after_secs: 1,
                },
            )
            .times(1000),
            ScriptedFault::new(
                "GET",
                "/finance/agreements/105/additions",
                FaultAction::RateLimited {
                    retry_after_secs: 120,
                },
            )
            .times(1000),
            ScriptedFault::new(
                "POST",
                "/finance/agreements/108/additions",
                FaultAction::RateLimited {
                    retry_after_secs: 1,
                },
            )
            .times(2),
        ],
        ..Faults::default()
    });
    let (status, report) = sync_json(&env);
    assert_eq!(status, 1);
    assert_eq!(failed_orgs(&report), ["pe-100482", "pe-100517"]);
    let contoso = org(&report, "pe-100482");
    assert!(
        contoso.contains("kept answering 429 Too Many Requests")
            && contoso.contains("after 5 attempts")
            && contoso.contains("run the sync again later"),
        "{contoso}"
    );
    assert_eq!(
        hits(&env, "GET", "/finance/agreements/102/additions"),
        5,
        "bounded"
    );
    let fabrikam = org(&report, "pe-100517");
    assert!(
        fabrikam.contains("asked to wait 120 s") && fabrikam.contains("run the sync again later"),
        "{fabrikam}"
    );
    assert_eq!(hits(&env, "GET", "/finance/agreements/105/additions"), 1);
    assert_eq!(
        hits(&env, "POST", "/finance/agreements/108/additions"),
        3,
        "two 429s, then the create"
    );
    assert!(org(&report, "pe-100533").contains("\"Created\""));
    assert_no_duplicate_additions(&env.sim);
    assert_heals(&env);
}

/// 500 (JSON), 502 and 503 (HTML gateway pages) and 504 on reads, patches
/// and creates, before and after the create took effect: reads and patches
/// are retried, a create is retried only after reading back that it is not
/// there. A create that keeps failing ends as a clear failure after 3
/// attempts.
#[test]
fn server_errors_and_html_pages_are_retried_without_duplicates() {
    let env = configured();
    let scripted = vec![
        ScriptedFault::new(
            "GET",
            "/finance/agreements/102/additions",
            FaultAction::html(502),
        )
        .times(2),
        ScriptedFault::new(
            "PATCH",
            "/finance/agreements/105/additions/*",
            FaultAction::json(500, "UnexpectedError", "An unexpected error occurred."),
        ),
        // Not applied: read back, absent, created.
        ScriptedFault::new(
            "POST",
            "/finance/agreements/108/additions",
            FaultAction::service_unavailable(),
        ),
        // Applied, then a 504: read back, present, not created again.
        ScriptedFault::new(
            "POST",
            "/finance/agreements/111/additions",
            FaultAction::html(504),
        )
        .after_apply(),
        // Never works: three creates, each read back first.
        ScriptedFault::new(
            "POST",
            "/finance/agreements/129/additions",
            FaultAction::html(502),
        )
        .times(1000),
    ];
    env.sim.set_faults(Faults {
        scripted,
        ..Faults::default()
    });
    let (status, report) = sync_json(&env);
    assert_eq!(status, 1);
    assert_eq!(failed_orgs(&report), ["pe-100755"], "{report:#}");
    let margie = org(&report, "pe-100755");
    assert!(
        margie.contains("502") && margie.contains("502 Bad Gateway"),
        "names the gateway page: {margie}"
    );
    assert_eq!(hits(&env, "POST", "/finance/agreements/129/additions"), 3);
    assert_eq!(hits(&env, "POST", "/finance/agreements/108/additions"), 2);
    assert_eq!(hits(&env, "POST", "/finance/agreements/111/additions"), 1);
    assert!(org(&report, "pe-100561").contains("\"Created\""));
    assert_no_duplicate_additions(&env.sim);
    assert_heals(&env);
}

/// Every third request answered by a 503 gateway page, for the whole run:
/// the result is the fault-free one.
#[test]
fn every_third_request_failing_still_gives_the_right_result() {
    let env = configured();
    env.sim.set_faults(Faults {
        error_every: Some(ErrorEvery {
            n: 3,
            status: 503,
            html: true,
        }),
        ..Faults::default()
    });
    let (status, report) = sync_json(&env);
    assert_eq!(status, 2, "only the conflict (attention): {report:#}");
    assert_eq!(failed_orgs(&report), Vec::<String>::new(), "{report:#}");
    assert!(
        env.sim
            .request_log()
            .iter()
            .filter(|r| r.status == 503)
            .count()
            >= 6
    );
    assert_no_duplicate_additions(&env.sim);
    assert_eq!(normalized_state(&env.sim), reference_state());
}

/// Connections closed or reset without a response, or mid-body, on reads,
/// patches and creates (applied or not): the fault-free result.
#[test]
fn connections_reset_mid_body_are_retried_without_duplicates() {
    let env = configured();
    env.sim.set_faults(Faults {
        scripted: vec![
            ScriptedFault::new(
                "GET",
                "/finance/agreements/102/additions",
                FaultAction::Drop(DropKind::ResetMidBody),
            )
            .times(2),
            ScriptedFault::new(
                "PATCH",
                "/finance/agreements/105/additions/*",
                FaultAction::Drop(DropKind::Close),
            ),
            // Applied, then the response is cut: read back, not created again.
            ScriptedFault::new(
                "POST",
                "/finance/agreements/108/additions",
                FaultAction::Drop(DropKind::ResetMidBody),
            )
            .after_apply(),
            // Reset before anything happened: read back, not there, but
            // with no answer ConnectWise might still be creating it, so it
            // is not sent again in this run, nor by a run within the write
            // journal's settle window; a run after that creates it.
            ScriptedFault::new(
                "POST",
                "/finance/agreements/111/additions",
                FaultAction::Drop(DropKind::Reset),
            ),
        ],
        ..Faults::default()
    });
    let (status, report) = sync_json(&env);
    assert_eq!(status, 1, "{report:#}");
    assert_eq!(failed_orgs(&report), ["pe-100561"], "{report:#}");
    assert!(
        org(&report, "pe-100561").contains("not sent again"),
        "{report:#}"
    );
    assert_eq!(hits(&env, "POST", "/finance/agreements/108/additions"), 1);
    assert_eq!(hits(&env, "POST", "/finance/agreements/111/additions"), 1);
    assert_no_duplicate_additions(&env.sim);
    env.sim.clear_faults();
    let (_, report) = sync_json(&env);
    assert!(
        org(&report, "pe-100561").contains("waiting for an earlier write that got no answer"),
        "{report:#}"
    );
    assert_eq!(hits(&env, "POST", "/finance/agreements/111/additions"), 1);
    let later = env.run_later(&["sync", "--json"], common::after_the_settle_window());
    assert_eq!(later.status, 2, "only the conflict: {}", later.stdout);
    assert_eq!(hits(&env, "POST", "/finance/agreements/111/additions"), 2);
    assert_no_duplicate_additions(&env.sim);
    assert_eq!(normalized_state(&env.sim), reference_state());
}

/// A 200 whose body is not JSON (truncated, or an HTML page from a proxy):
/// that organization fails, naming what it got; a 201 with a garbled body
/// after the create took effect still counts as created, once.
#[test]
fn malformed_json_fails_the_organization_clearly() {
    let env = configured();
    let garbage = |status: u16, body: &str| FaultAction::Error {
        status,
        body: seatsync_fixtures::FaultBody::Text(body.to_string()),
    };
    env.sim.set_faults(Faults {
        scripted: vec![
            ScriptedFault::new(
                "GET",
                "/finance/agreements/102/additions",
                garbage(200, "[{\"id\": 15, \"product\": {\"id\": 19}, \"quan"),
            ),
            ScriptedFault::new(
                "GET",
                "/finance/agreements/105/additions",
                FaultAction::Error {
                    status: 200,
                    body: seatsync_fixtures::FaultBody::Html,
                },
            ),
            ScriptedFault::new(
                "POST",
                "/finance/agreements/108/additions",
                garbage(201, "{\"id\": 4"),
            )
            .after_apply(),
        ],
        ..Faults::default()
    });
    let (status, report) = sync_json(&env);
    assert_eq!(status, 1);
    assert_eq!(failed_orgs(&report), ["pe-100482", "pe-100517"]);
    let contoso = org(&report, "pe-100482");
    assert!(
        contoso.contains("not the JSON expected") && contoso.contains("agreement 102"),
        "{contoso}"
    );
    let fabrikam = org(&report, "pe-100517");
    assert!(fabrikam.contains("an HTML page"), "{fabrikam}");
    assert!(org(&report, "pe-100533").contains("\"Created\""));
    assert_eq!(hits(&env, "POST", "/finance/agreements/108/additions"), 1);
    assert_no_duplicate_additions(&env.sim);
    assert_heals(&env);
}

/// The API member's key is revoked while a run is under way: the
/// organizations synced before keep their results, every later one fails
/// with a message about the credentials, nothing is written twice.
#[test]
fn a_401_in_the_middle_of_a_run() {
    let env = configured();
    let slow = Faults {
        delay: Some(Duration::from_millis(100)),
        ..Faults::default()
    };
    env.sim.set_faults(slow.clone());
    let child = env.spawn(&["sync", "--json"]);
    common::wait_until("the run to be half-way", Duration::from_secs(60), || {
        env.sim.request_log().len() >= 8
    });
    env.sim.set_faults(Faults {
        unauthorized: true,
        ..slow
    });
    let out = child.wait_with_output().expect("seatsync finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    common::assert_no_secret(&stdout);
    common::assert_no_secret(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    let failed = failed_orgs(&report);
    assert!(
        !failed.is_empty() && failed.len() < 12,
        "some organizations ran before the revocation, some after: {failed:?}"
    );
    for org_id in &failed {
        let text = org(&report, org_id);
        assert!(
            text.contains("rejected the credentials") && text.contains("private keys"),
            "{text}"
        );
    }
    assert_no_duplicate_additions(&env.sim);
    assert_heals(&env);
}

/// Two organizations on one agreement would race to create the same
/// addition and overwrite each other's counts every day. `map org` refuses
/// it; a database that has it anyway (mapped before this check) syncs
/// neither organization, and nothing is sent for that agreement.
#[test]
fn two_organizations_on_one_agreement_are_refused() {
    let env = configured();
    let refused = env.run(&[
        "map",
        "org",
        "pe-100845",
        "--company",
        "254",
        "--agreement",
        "102",
    ]);
    assert_eq!(refused.status, 1);
    assert!(
        refused
            .stderr
            .contains("agreement 102 is already mapped to organization pe-100482"),
        "{}",
        refused.stderr
    );

    let store = env.store();
    let mapping = seatsync_host::store::OrgMapping {
        company_id: 254,
        agreement_id: 102,
        company_name: None,
        agreement_name: None,
    };
    store
        .upsert_org_mapping("default", "pe-100845", &mapping)
        .unwrap();
    let before = env.sim.state_dump_for(&[102]);
    let (status, report) = sync_json(&env);
    assert_eq!(status, 1);
    for org_id in ["pe-100482", "pe-100845"] {
        let text = org(&report, org_id);
        assert!(
            text.contains("mapped to several organizations (pe-100482, pe-100845)"),
            "{text}"
        );
    }
    assert_eq!(hits(&env, "GET", "/finance/agreements/102/additions"), 0);
    assert_eq!(env.sim.state_dump_for(&[102]), before);
}

/// A product deleted from the catalog after it was mapped: creating an
/// addition for it fails with ConnectWise's reason; its existing additions
/// are still updated; every other organization syncs.
#[test]
fn a_product_deleted_after_mapping() {
    let env = configured();
    assert!(env.sim.delete_product(21), "professional's product");
    let (status, report) = sync_json(&env);
    assert_eq!(status, 1);
    assert_eq!(failed_orgs(&report), ["pe-100648"], "{report:#}");
    let adventure = org(&report, "pe-100648");
    assert!(adventure.contains("product"), "{adventure}");
    assert!(
        org(&report, "pe-100729").contains("\"Updated\""),
        "addition 148 still exists and is updated"
    );
    assert_no_duplicate_additions(&env.sim);
}

/// An agreement deleted after it was mapped: the run's check of the
/// agreements fails that organization before anything is sent for it, with
/// a message saying what to do; the others sync.
#[test]
fn an_agreement_deleted_after_mapping() {
    let env = configured();
    env.sim.with_tenant(|t| {
        t.agreements
            .retain(|a| seatsync_fixtures::tenant::id_of(a) != Some(108));
        t.additions.remove(&108);
    });
    let (status, report) = sync_json(&env);
    assert_eq!(status, 1);
    assert_eq!(failed_orgs(&report), ["pe-100533"], "{report:#}");
    let northwind = org(&report, "pe-100533");
    assert!(
        northwind.contains("no longer exists") && northwind.contains("seatsync map org pe-100533"),
        "{northwind}"
    );
    assert_eq!(hits(&env, "GET", "/finance/agreements/108/additions"), 0);
    assert_eq!(hits(&env, "POST", "/finance/agreements/108/additions"), 0);
    assert_no_duplicate_additions(&env.sim);
}

/// An agreement cancelled after it was mapped: nothing is written to it; its
/// organization fails with a message saying so and what to do; the other
/// organizations sync. Once remapped or re-activated, the next run syncs it.
#[test]
fn an_agreement_cancelled_after_mapping() {
    let env = configured();
    let before = env.sim.state_dump_for(&[105, 108]);
    assert!(env.sim.cancel_agreement(108, "2026-01-01T00:00:00Z"));
    assert!(env.sim.cancel_agreement(105, "2026-01-01T00:00:00Z"));
    let (status, report) = sync_json(&env);
    assert_eq!(status, 1);
    assert_eq!(
        failed_orgs(&report),
        ["pe-100517", "pe-100533"],
        "{report:#}"
    );
    let fabrikam = org(&report, "pe-100517");
    assert!(
        fabrikam.contains("is cancelled") && fabrikam.contains("nothing was written"),
        "{fabrikam}"
    );
    assert_eq!(
        env.sim.state_dump_for(&[105, 108]),
        before,
        "no write to a cancelled agreement"
    );
    assert!(
        org(&report, "pe-100755").contains("\"Created\""),
        "the others still sync"
    );
    assert_no_duplicate_additions(&env.sim);
}

/// An agreement moved to another company after it was mapped: its
/// organization fails with a message naming both companies; nothing is
/// written to it.
#[test]
fn an_agreement_moved_to_another_company() {
    let env = configured();
    let before = env.sim.state_dump_for(&[108]);
    env.sim.with_tenant(|t| {
        for a in t.agreements.iter_mut() {
            if seatsync_fixtures::tenant::id_of(a) == Some(108) {
                a["company"]["id"] = serde_json::json!(254);
            }
        }
    });
    let (status, report) = sync_json(&env);
    assert_eq!(status, 1);
    assert_eq!(failed_orgs(&report), ["pe-100533"], "{report:#}");
    let northwind = org(&report, "pe-100533");
    assert!(
        northwind.contains("now belongs to company 254, not 259"),
        "{northwind}"
    );
    assert_eq!(env.sim.state_dump_for(&[108]), before);
}

/// Responses slower than the host's first-byte timeout (1 s here; the CLI
/// uses 120 s), through the host's `sync_tenant` and the real component: a
/// slow read is retried; a create that took effect but answered too late is
/// read back and not repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_slower_than_the_timeout() {
    use seatsync_host::runtime::{Limits, Runtime, RuntimeOptions};
    use seatsync_host::store::Trigger;
    use seatsync_host::sync::{SyncOptions, sync_tenant};

    let env = configured();
    let slow = FaultAction::Delay(Duration::from_secs(3));
    env.sim.set_faults(Faults {
        scripted: vec![
            ScriptedFault::new("GET", "/finance/agreements/102/additions", slow.clone()),
            ScriptedFault::new("POST", "/finance/agreements/108/additions", slow.clone())
                .after_apply(),
            ScriptedFault::new("PATCH", "/finance/agreements/105/additions/*", slow),
        ],
        ..Faults::default()
    });
    let limits = Limits {
        first_byte_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let runtime = Arc::new(
        Runtime::new(
            seatsync_host::DEFAULT_COMPONENT,
            RuntimeOptions {
                limits,
                cache_dir: Some(shared_cache_dir()),
            },
        )
        .expect("the component loads"),
    );
    let store = env.store();
    let options = SyncOptions {
        retry_pause: None,
        ..SyncOptions::new(Trigger::Manual, test_day())
    };
    let summary = sync_tenant(&store, runtime, "default", &options, &mut ())
        .await
        .expect("the run completes");
    let failed: Vec<&str> = summary
        .orgs
        .iter()
        .filter(|o| !o.succeeded() && o.plan.org_id != "pe-100602")
        .map(|o| o.plan.org_id.as_str())
        .collect();
    assert_eq!(failed, Vec::<&str>::new(), "{:#?}", summary.orgs);
    // The slow read and patch were sent again after the timeout; the slow
    // create was not.
    // (The simulator drops a request whose client hung up before it was
    // handled, so it logs only the second of each; the host counts both.)
    let requests = |org_id: &str| {
        summary
            .orgs
            .iter()
            .find(|o| o.plan.org_id == org_id)
            .map(|o| o.requests)
    };
    assert_eq!(requests("pe-100482"), Some(2), "the read, twice");
    assert_eq!(requests("pe-100517"), Some(3), "the read, the patch twice");
    assert_eq!(requests("pe-100533"), Some(3), "read, create, read back");
    let creates: Vec<Option<String>> = env
        .sim
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/agreements/108/additions"))
        .map(|r| r.fault.clone())
        .collect();
    assert_eq!(creates, [Some("after apply: delay 3000ms".to_string())]);
    assert_no_duplicate_additions(&env.sim);
    tokio::task::spawn_blocking(move || {
        assert_eq!(normalized_state(&env.sim), reference_state());
    })
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------
// Organizations that failed for a transient reason are tried again.
// ---------------------------------------------------------------------------

/// One agreement's reads fail (503) through all of the connector's retries,
/// then recover: the organization is tried again at the end of the run, and
/// the run ends as if nothing had happened, with history saying so.
#[test]
fn an_organization_that_failed_transiently_is_tried_again_at_the_end_of_the_run() {
    let env = configured();
    env.sim.set_faults(Faults {
        scripted: vec![
            ScriptedFault::new(
                "GET",
                "/finance/agreements/102/additions",
                FaultAction::html(503),
            )
            .times(5),
        ],
        ..Faults::default()
    });
    let run = env.run_with_env(&["sync", "--json"], &[("SEATSYNC_RETRY_PAUSE", "200ms")]);
    assert!(
        run.stderr
            .contains("1 organization(s) failed for a transient reason"),
        "the retry is announced:\n{}",
        run.stderr
    );
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(run.status, 2, "only the conflict is left:\n{report:#}");
    assert_eq!(failed_orgs(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(hits(&env, "GET", "/finance/agreements/102/additions"), 6);
    assert_no_duplicate_additions(&env.sim);
    assert_eq!(normalized_state(&env.sim), reference_state());

    let history = env.history();
    assert_eq!(history[0]["retried"], 1);
    assert_eq!(history[0]["status"], "attention");
    assert_eq!(history[0]["totals"]["orgs"], 12);
    assert_eq!(history[0]["totals"]["orgs_failed"], 0);
    let id = history[0]["id"].to_string();
    let lines = env.ok(&["history", "--run", &id, "--json"]);
    let lines: Value = serde_json::from_str(&lines.stdout).expect("JSON");
    let attempts: Vec<(String, u64)> = lines["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["org_id"] == "pe-100482")
        .map(|l| {
            (
                l["result"].as_str().unwrap().to_string(),
                l["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [("unchanged".to_string(), 2), ("unchanged".to_string(), 2)],
        "the second attempt's lines replaced the failure"
    );
}

/// A 4xx is not transient: the organization is not tried again.
#[test]
fn an_organization_refused_with_a_4xx_is_not_tried_again() {
    let env = configured();
    env.sim.set_faults(Faults {
        forbidden: vec![seatsync_fixtures::Forbid {
            method: Some("GET".into()),
            path: "/finance/agreements/105/additions".into(),
            permission: "Finance / Agreements / Inquire".into(),
        }],
        ..Faults::default()
    });
    let run = env.run_with_env(&["sync", "--json"], &[("SEATSYNC_RETRY_PAUSE", "200ms")]);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(run.status, 1, "{report:#}");
    assert_eq!(failed_orgs(&report), ["pe-100517"], "{report:#}");
    assert_eq!(hits(&env, "GET", "/finance/agreements/105/additions"), 1);
    assert!(!run.stderr.contains("transient"), "{}", run.stderr);
    assert_eq!(env.history()[0]["retried"], 0);
}
