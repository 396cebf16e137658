//! Crashes: the host killed (SIGKILL) while a sync is writing, then run
//! again; and two syncs of one database at once.

mod common;

use std::time::Duration;

use common::{
    Env, after_the_settle_window, assert_no_duplicate_additions, normalized_state, reference_state,
    wait_until,
};
use seatsync_fixtures::{FaultAction, Faults, ScriptedFault};
use serde_json::Value;

/// Every POST and PATCH of an addition held for `delay`, before or after it
/// takes effect.
fn slow_writes(delay: Duration, after_apply: bool) -> Faults {
    let fault = |method: &str, path: &str| {
        let f = ScriptedFault::new(method, path, FaultAction::Delay(delay)).times(1000);
        if after_apply { f.after_apply() } else { f }
    };
    Faults {
        scripted: vec![
            fault("POST", "/finance/agreements/*/additions"),
            fault("PATCH", "/finance/agreements/*/additions/*"),
        ],
        ..Faults::default()
    }
}

/// Writes the simulator has applied (logged with a status) so far.
fn logged_writes(env: &Env) -> usize {
    env.sim
        .request_log()
        .iter()
        .filter(|r| r.method != "GET")
        .count()
}

/// Kills `seatsync sync` once the `k`th write is in flight, runs it again,
/// and checks the result against an uninterrupted run.
fn kill_at(k: u64, after_apply: bool) {
    let env = Env::new();
    env.configure();
    env.sim
        .set_faults(slow_writes(Duration::from_millis(1500), after_apply));
    let mut child = env.spawn(&["sync"]);
    wait_until(
        &format!("write {k} to be in flight"),
        Duration::from_secs(60),
        || {
            if after_apply {
                // Logged once applied; its answer is still held back.
                logged_writes(&env) as u64 >= k
            } else {
                // Counted on arrival; held back before it takes effect.
                env.sim.counts().writes >= k
            }
        },
    );
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reaped");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed, not finished"
    );
    std::thread::sleep(Duration::from_millis(100));
    let applied_before = env.sim.counts().applied_writes;
    assert!(
        applied_before < 8,
        "the kill landed before the run's 8 writes were all applied ({applied_before})"
    );
    assert_no_duplicate_additions(&env.sim);

    // The write in flight when the process died is in the journal, with no
    // answer: its organization waits for it to settle, the others sync.
    let unresolved = env.store().unresolved_writes("default").expect("journal");
    assert_eq!(
        unresolved.len(),
        1,
        "one write was in flight: {unresolved:#?}"
    );
    let waiting_org = unresolved[0].org_id.clone();

    env.sim.clear_faults();
    let again = env.run(&["sync", "--json"]);
    assert!(
        !again.stderr.contains("held by process"),
        "the dead process's lock does not block the re-run:\n{}",
        again.stderr
    );
    assert_eq!(
        again.status, 2,
        "the re-run finishes, with 115's conflict and one organization waiting (attention):\n{}\n{}",
        again.stdout, again.stderr
    );
    let report: Value = serde_json::from_str(&again.stdout).expect("JSON");
    for o in report["organizations"].as_array().unwrap() {
        assert!(o["error"].is_null(), "{o}");
        assert!(!o["report"].to_string().contains("\"Failed\""), "{o}");
        let waits = o["org_id"] == waiting_org.as_str();
        assert_eq!(o["waiting"].is_string(), waits, "{o}");
        if waits {
            assert_eq!(o["requests"], 0, "nothing sent for it: {o}");
        }
    }
    assert_no_duplicate_additions(&env.sim);

    // Once the window has passed, a run reads and finishes the job.
    let later = env.run_later(&["sync", "--json"], after_the_settle_window());
    assert_eq!(later.status, 2, "only 115's conflict:\n{}", later.stdout);
    assert_no_duplicate_additions(&env.sim);
    assert_eq!(
        normalized_state(&env.sim),
        reference_state(),
        "killed at write {k} (after apply: {after_apply}), then re-run, then run after the window: \
         as if uninterrupted"
    );
    assert_eq!(
        env.sim.counts().applied_writes,
        8,
        "each of the 8 writes applied once over the runs"
    );
    assert!(
        env.store().unresolved_writes("default").unwrap().is_empty(),
        "the run after the window settled the entry"
    );

    let history = env.history();
    let statuses: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["attention", "attention", "interrupted"],
        "newest first"
    );
    assert_eq!(
        history[1]["totals"]["waiting"].as_u64().map(|n| n > 0),
        Some(true)
    );
    let interrupted = &history[2];
    assert!(
        interrupted["message"]
            .as_str()
            .is_some_and(|m| m.contains("stopped before it finished")),
        "{interrupted}"
    );
}

#[test]
fn killed_while_the_first_write_waits_to_be_applied() {
    kill_at(1, false);
}

#[test]
fn killed_after_a_create_was_applied_but_before_its_answer() {
    // Writes run in organization order (concurrency 1): 105's patch, then
    // 108's create, ...
    kill_at(2, true);
}

#[test]
fn killed_late_in_the_run() {
    kill_at(6, true);
}

/// Two `seatsync sync` on one database: the second says another sync is
/// running (and who) and exits 1 without touching ConnectWise; the first
/// finishes normally.
#[test]
fn a_second_sync_at_the_same_time_is_refused() {
    let env = Env::new();
    env.configure();
    env.sim
        .set_faults(slow_writes(Duration::from_millis(300), false));
    let first = env.spawn(&["sync"]);
    wait_until("the first sync to start", Duration::from_secs(60), || {
        !env.sim.request_log().is_empty()
    });
    let requests_before = env.sim.counts().total;
    let second = env.run(&["sync"]);
    assert_eq!(second.status, 1, "{}", second.stderr);
    assert!(second.stdout.is_empty(), "{}", second.stdout);
    for needle in [
        "another seatsync process is already syncing tenant 'default'",
        "held by process",
        "wait for that sync to finish",
    ] {
        assert!(
            second.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            second.stderr
        );
    }
    let first = first.wait_with_output().expect("the first sync finishes");
    assert_eq!(
        first.status.code(),
        Some(2),
        "only the conflict (attention):\n{}",
        String::from_utf8_lossy(&first.stdout)
    );
    // Whatever the first sent in the meantime, the second sent nothing:
    // every request is the first run's 21 (its check of the agreements,
    // 12 reads, 8 writes).
    assert!(requests_before <= 21);
    assert_eq!(env.sim.counts().total, 21);
    assert_no_duplicate_additions(&env.sim);
    assert_eq!(normalized_state(&env.sim), reference_state());
    let history = env.history();
    assert_eq!(history.as_array().unwrap().len(), 1, "one run: {history}");
}

/// Two tenants on one PSA site: while one syncs, the other's sync is
/// refused (the site sees one seatsync at a time, its pacing whole), sends
/// nothing, and says why.
#[test]
fn a_sync_of_another_tenant_on_the_same_site_waits_its_turn() {
    let env = Env::new();
    env.configure();
    env.configure_tenant("second");
    env.sim
        .set_faults(slow_writes(Duration::from_millis(300), false));
    let first = env.spawn(&["sync"]);
    wait_until("the first sync to start", Duration::from_secs(60), || {
        !env.sim.request_log().is_empty()
    });
    let second = env.run(&["--tenant", "second", "sync"]);
    assert_eq!(second.status, 1, "{}", second.stderr);
    for needle in [
        "another seatsync process is syncing a tenant on the same PSA site",
        &format!("({})", env.site()),
        "held by process",
    ] {
        assert!(
            second.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            second.stderr
        );
    }
    let first = first.wait_with_output().expect("the first sync finishes");
    assert_eq!(first.status.code(), Some(2));
    assert_eq!(env.sim.counts().total, 21, "only the first sync's requests");
    assert!(
        env.store().list_runs("second", 5).unwrap().is_empty(),
        "the refused sync recorded no run"
    );
    // Its turn: once the site is free, it syncs (nothing left to write).
    let turn = env.run(&["--tenant", "second", "sync"]);
    assert_eq!(turn.status, 2, "only the demo's conflict:\n{}", turn.stderr);
    assert_eq!(env.sim.counts().writes, 8, "the first sync's writes only");
}
