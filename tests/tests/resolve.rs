//! A duplicate seatsync itself created, named precisely, and its newer line
//! ended by `seatsync resolve` once a person confirmed it; never otherwise.
//!
//! The duplicate is a real one: ConnectWise's reads of agreement 108 lag
//! behind its writes (`Faults::hidden_additions`, as a read replica would),
//! so the sync after the first does not see the addition the first
//! created, and creates it again. The write journal cannot prevent that
//! (the first write was answered long before), but it knows both additions
//! are seatsync's, and when each was created.

mod common;

use std::time::Duration;

use common::{Env, after_the_settle_window, assert_no_duplicate_additions, demo_agreements, today};
use seatsync_fixtures::Faults;
use seatsync_host::store::{Confirmation, EndState};
use serde_json::{Value, json};

/// Fabrikam's agreement (organization pe-100533): no addition before the
/// first sync, which creates one for product 19 (business, 12 users).
const AGREEMENT: u32 = 108;
const ORG: &str = "pe-100533";
const PRODUCT: u64 = 19;

/// The connector as released for contract 0.1.0 (see `cli_flow.rs`).
const CONNECTOR_0_1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/artifacts/seatsync-connector-v0.1.0.wasm"
);

/// The additions of `agreement` for `product` that are active on the
/// tests' day, by id.
fn active(env: &Env, agreement: u32, product: u64) -> Vec<u64> {
    let today = today();
    let mut ids: Vec<u64> = env
        .sim
        .additions(agreement)
        .iter()
        .filter(|a| a.pointer("/product/id").and_then(Value::as_u64) == Some(product))
        .filter(|a| {
            a.get("cancelledDate")
                .and_then(Value::as_str)
                .and_then(|d| d.get(..10))
                .is_none_or(|day| day > today.as_str())
        })
        .filter_map(|a| a.get("id").and_then(Value::as_u64))
        .collect();
    ids.sort_unstable();
    ids
}

/// `n` settle windows after the tests' clock: each command of a test runs
/// later than the one before, as an operator's would.
fn later(n: u32) -> Duration {
    after_the_settle_window() * n
}

/// Writes the simulator received other than reads, as `METHOD path`.
fn writes_seen(env: &Env) -> Vec<String> {
    env.sim
        .request_log()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, env.redact(&r.path)))
        .collect()
}

fn json_of(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// Syncs twice with agreement 108's reads lagging in between, so that
/// ConnectWise ends with two active additions for product 19, both created
/// by seatsync; returns them, older first.
fn make_seatsync_duplicate(env: &Env) -> (u64, u64) {
    env.configure();
    let first = env.run(&["sync"]);
    assert_eq!(first.status, 2, "only 115's conflict:\n{}", first.stdout);
    let created = active(env, AGREEMENT, PRODUCT);
    assert_eq!(created.len(), 1, "the first sync created one: {created:?}");
    let older = created[0];

    // The replica that answers reads has not seen it yet.
    env.sim.set_faults(Faults {
        hidden_additions: vec![u32::try_from(older).expect("a ConnectWise id")],
        ..Faults::default()
    });
    let second = env.run_later(&["sync"], later(1));
    assert_eq!(second.status, 2, "{}\n{}", second.stdout, second.stderr);
    env.sim.clear_faults();
    let both = active(env, AGREEMENT, PRODUCT);
    assert_eq!(both.len(), 2, "a real duplicate: {both:?}");
    let newer = both
        .into_iter()
        .find(|id| *id != older)
        .expect("a second addition");
    (older, newer)
}

/// The message the journal's times give: `duplicate created by seatsync:
/// agreement addition X at T1 and agreement addition Y at T2; end Y with
/// `seatsync resolve --end Y``.
fn expected_message(env: &Env, older: u64, newer: u64) -> String {
    let ids = [older as i64, newer as i64];
    let mut created = env
        .store()
        .writes_that_created("default", &ids)
        .expect("the journal");
    created.sort_by_key(|e| (e.recorded_at, e.id));
    assert_eq!(
        created.iter().map(|e| e.created_id).collect::<Vec<_>>(),
        [Some(ids[0]), Some(ids[1])],
        "the journal recorded both creates, the older first"
    );
    let at = |i: usize| created[i].recorded_at.format("%Y-%m-%d %H:%M:%S UTC");
    format!(
        "duplicate created by seatsync: agreement addition {older} at {} and agreement addition {newer} at {}; \
         end {newer} with `seatsync resolve --end {newer}`",
        at(0),
        at(1)
    )
}

/// pe-100533's first report line in a `sync --json` output.
fn org_line(report: &Value) -> Value {
    report["organizations"]
        .as_array()
        .expect("organizations")
        .iter()
        .find(|o| o["org_id"] == ORG)
        .expect("pe-100533 synced")["report"]["lines"][0]
        .clone()
}

#[test]
fn a_duplicate_seatsync_created_is_named_and_its_newer_line_ended_after_a_yes() {
    let env = Env::new();
    let (older, newer) = make_seatsync_duplicate(&env);

    // The next sync names it precisely, in every output.
    let third = env.run_later(&["sync", "--json"], later(2));
    assert_eq!(third.status, 2, "{}", third.stderr);
    let report = json_of(&third);
    let message = expected_message(&env, older, newer);
    let line = org_line(&report);
    assert_eq!(line["outcome"], json!({ "Conflict": [older, newer] }));
    assert_eq!(line["duplicate"]["message"], json!(message));
    assert_eq!(line["duplicate"]["keep"], json!(older));
    assert_eq!(line["duplicate"]["end"], json!([newer]));
    assert_eq!(
        line["duplicate"]["commands"],
        json!([format!("seatsync resolve --end {newer}")])
    );
    assert_eq!(line["duplicate"]["others"], json!([]));
    // 115's two additions were there before seatsync: a plain conflict.
    let plain = report["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["org_id"] == "pe-100602")
        .expect("pe-100602")["report"]["lines"][0]
        .clone();
    assert_eq!(plain["duplicate"], Value::Null);

    let run = report["run"]["id"].as_i64().expect("a run id").to_string();
    let history = env.run_later(&["history", "--run", &run], later(2));
    assert!(history.stdout.contains(&message), "{}", history.stdout);
    let history = json_of(&env.run_later(&["history", "--run", &run, "--json"], later(2)));
    let recorded = history["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["org_id"] == ORG)
        .expect("pe-100533's line")
        .clone();
    assert_eq!(recorded["message"], json!(message));
    assert_eq!(recorded["duplicate"]["end"], json!([newer]));
    // The table of a (dry) run says it too.
    let table = env.run_later(&["sync", "--dry-run"], later(2));
    assert_eq!(table.status, 2, "{}", table.stderr);
    assert!(table.stdout.contains(&message), "{}", table.stdout);
    assert!(
        table
            .stdout
            .contains("1 of them are duplicates seatsync created: `seatsync resolve` lists them"),
        "{}",
        table.stdout
    );

    // `resolve` lists it.
    let listed = env.run_later(&["resolve"], later(2));
    assert_eq!(listed.status, 0, "{}", listed.stderr);
    assert!(
        listed
            .stdout
            .contains(&format!("{newer}: `seatsync resolve --end {newer}`")),
        "{}",
        listed.stdout
    );
    let listed = json_of(&env.run_later(&["resolve", "--json"], later(2)));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    assert_eq!(listed[0]["agreement_id"], json!(AGREEMENT));
    assert_eq!(listed[0]["org_id"], json!(ORG));
    assert_eq!(listed[0]["still_to_end"], json!([newer]));

    // What it must not end, it refuses, writing nothing and asking nothing.
    env.sim.clear_log();
    let refusals = [
        (
            older.to_string(),
            "is the older of the lines seatsync created for this product".to_string(),
        ),
        (
            "86".to_string(),
            "seatsync's journal created 0 of them, not two: seatsync does not choose".to_string(),
        ),
        (
            "15".to_string(),
            "agreement addition 15 is in no conflict the latest syncs found".to_string(),
        ),
    ];
    for (line, why) in &refusals {
        let refused = env.run_later(&["resolve", "--end", line, "--yes"], later(2));
        assert_eq!(refused.status, 1, "{line}: {}", refused.stdout);
        assert!(refused.stderr.contains(why), "{line}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("nothing was changed"),
            "{line}: {}",
            refused.stderr
        );
        assert_eq!(refused.stdout, "", "{line}: nothing to confirm");
    }
    let older_refused = env.run_later(&["resolve", "--end", &older.to_string(), "--yes"], later(2));
    assert!(
        older_refused.stderr.contains(&format!(
            "end the newer one with `seatsync resolve --end {newer}`"
        )),
        "{}",
        older_refused.stderr
    );

    // Not confirmed: nothing ended.
    let newer_arg = newer.to_string();
    for answer in ["no\n", "", "y\n"] {
        let declined =
            env.run_later_with_stdin(&["resolve", "--end", &newer_arg], answer, later(2));
        assert_eq!(declined.status, 1, "{answer:?}: {}", declined.stdout);
        assert!(
            declined.stdout.contains(&format!(
                "End agreement addition {newer} (created by seatsync at"
            )),
            "{}",
            declined.stdout
        );
        assert!(
            declined
                .stderr
                .contains(&format!("Type yes to end agreement addition {newer}")),
            "{}",
            declined.stderr
        );
        assert!(
            declined.stderr.contains("not confirmed")
                && declined.stderr.contains("nothing was ended"),
            "{answer:?}: {}",
            declined.stderr
        );
    }
    assert_eq!(
        writes_seen(&env),
        Vec::<String>::new(),
        "nothing was written"
    );
    assert_eq!(active(&env, AGREEMENT, PRODUCT), [older, newer]);

    // A person types yes: the newer one ends today, the older one stays.
    let ended = env.run_later_with_stdin(&["resolve", "--end", &newer_arg], "yes\n", later(2));
    assert_eq!(ended.status, 0, "{}\n{}", ended.stdout, ended.stderr);
    assert!(
        ended.stdout.contains(&format!(
            "Ended agreement addition {newer} on agreement {AGREEMENT}: it stops billing on {}",
            today()
        )),
        "{}",
        ended.stdout
    );
    assert_eq!(
        writes_seen(&env),
        [format!(
            "PATCH /v4_6_release/apis/3.0/finance/agreements/{AGREEMENT}/additions/{newer}"
        )]
    );
    let additions = env.sim.additions(AGREEMENT);
    let record = |id: u64| {
        additions
            .iter()
            .find(|a| a["id"] == json!(id))
            .expect("the addition is still there")
            .clone()
    };
    assert_eq!(
        record(newer)["cancelledDate"],
        json!(format!("{}T00:00:00Z", today()))
    );
    assert_eq!(
        record(older).get("cancelledDate"),
        None,
        "{:#}",
        record(older)
    );
    assert_eq!(active(&env, AGREEMENT, PRODUCT), [older]);

    // What it did is recorded: the end, and its write in the journal.
    let store = env.store();
    let ends = store.line_ends("default").expect("the ended lines");
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(
        (ends[0].line_id, ends[0].kept_line_id, ends[0].state),
        (newer as i64, older as i64, EndState::Ended)
    );
    assert_eq!(ends[0].confirmed, Confirmation::Typed);
    assert_eq!(ends[0].end_day, today());
    assert!(store.unresolved_writes("default").unwrap().is_empty());

    // Not twice.
    let again = env.run_later(&["resolve", "--end", &newer_arg, "--yes"], later(2));
    assert_eq!(again.status, 1);
    assert!(
        again
            .stderr
            .contains("was already ended by `seatsync resolve`"),
        "{}",
        again.stderr
    );
    let listed = env.run_later(&["resolve"], later(2));
    assert!(
        listed
            .stdout
            .contains(&format!("{newer}: ended, stops billing on {}", today())),
        "{}",
        listed.stdout
    );
    assert_eq!(writes_seen(&env).len(), 1, "still the one PATCH");

    // A sync afterwards is clean: one addition, unchanged; only 115's old
    // conflict is left for a person.
    let clean = env.run_later(&["sync", "--json"], later(3));
    assert_eq!(clean.status, 2, "{}", clean.stderr);
    let report = json_of(&clean);
    assert_eq!(report["run"]["totals"]["conflicts"], json!(1));
    let line = org_line(&report);
    assert_eq!(line["outcome"], json!("Unchanged"));
    assert_eq!(line["addition_id"], json!(older));
    assert_eq!(line["duplicate"], Value::Null);
    assert_eq!(report["run"]["totals"]["writes"], json!(0));
    assert_no_duplicate_additions(&env.sim);
    let listed = env.run_later(&["resolve"], later(3));
    assert!(
        listed
            .stdout
            .starts_with("No duplicate seatsync created is known"),
        "{}",
        listed.stdout
    );
    assert!(demo_agreements().contains(&AGREEMENT));
}

/// What only the PSA or the connector can tell: a line ended in ConnectWise
/// since the sync, and a connector whose contract cannot end lines. Both
/// refused after the checks, with nothing written.
#[test]
fn a_line_no_longer_active_or_a_0_1_connector_is_refused_writing_nothing() {
    let env = Env::new();
    let (older, newer) = make_seatsync_duplicate(&env);
    let third = env.run_later(&["sync"], later(2));
    assert_eq!(third.status, 2, "{}", third.stderr);
    let newer_arg = newer.to_string();
    env.sim.clear_log();

    // A connector built for contract 0.1 has no end-line.
    let old = env.run_later(
        &[
            "--plugin",
            CONNECTOR_0_1,
            "resolve",
            "--end",
            &newer_arg,
            "--yes",
        ],
        later(2),
    );
    assert_eq!(old.status, 1, "{}", old.stdout);
    assert!(
        old.stderr.contains(&format!(
            "this connector speaks contract 0.1, which cannot end a line: end agreement addition {newer} in \
             ConnectWise Manage yourself"
        )),
        "{}",
        old.stderr
    );
    assert!(env.sim.request_log().is_empty(), "nothing sent");

    // Someone ended it in ConnectWise meanwhile: the connector reads it
    // first, and refuses.
    let ended_on = "2026-11-20T00:00:00Z";
    env.sim.with_tenant(|t| {
        let additions = t
            .additions
            .get_mut(&AGREEMENT)
            .expect("agreement 108's additions");
        let addition = additions
            .iter_mut()
            .find(|a| a["id"] == json!(newer))
            .expect("the newer addition");
        addition["cancelledDate"] = json!(ended_on);
    });
    let refused = env.run_later(&["resolve", "--end", &newer_arg, "--yes"], later(2));
    assert_eq!(refused.status, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains(&format!(
            "agreement addition {newer} was not ended, and nothing was written: addition {newer} of agreement \
             {AGREEMENT} is no longer active: it ended on 2026-11-20"
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(writes_seen(&env), Vec::<String>::new());
    assert_eq!(active(&env, AGREEMENT, PRODUCT), [older]);

    let ends = env.store().line_ends("default").expect("the ended lines");
    assert_eq!(
        ends.iter().map(|e| e.state).collect::<Vec<_>>(),
        [EndState::Refused, EndState::Refused],
        "{ends:?}"
    );
    assert!(
        ends.iter().all(|e| e.confirmed == Confirmation::Flag),
        "{ends:?}"
    );
}
