//! Review before billing, end to end through the `seatsync` binary against
//! the simulated ConnectWise: a review saved as a plan, decisions on its
//! lines, a change in ConnectWise after the review, and `apply` writing
//! only what is approved and unchanged; approval rules that make a sync
//! hold a surprise drop for a person; and bad input that changes nothing.

mod common;

use common::*;
use serde_json::{Value, json};

/// Sets the quantity of the active addition for `product` on `agreement`
/// in the simulator, as someone editing it in ConnectWise would.
fn edit_in_connectwise(env: &Env, agreement: u32, product: u64, quantity: f64) {
    let edited = env.sim.with_tenant(|t| {
        let additions = t.additions.get_mut(&agreement)?;
        let addition = additions
            .iter_mut()
            .find(|a| a["product"]["id"] == json!(product) && a["cancelledDate"].is_null())?;
        addition["quantity"] = json!(quantity);
        Some(())
    });
    assert!(
        edited.is_some(),
        "agreement {agreement} has an active addition for product {product}"
    );
}

/// The quantities of the active additions on `agreement`, by product.
fn quantities(env: &Env, agreement: u32) -> Vec<(u64, f64)> {
    let mut q: Vec<(u64, f64)> = env
        .sim
        .additions(agreement)
        .iter()
        .filter(|a| a["cancelledDate"].is_null())
        .map(|a| {
            (
                a["product"]["id"].as_u64().expect("a product id"),
                a["quantity"].as_f64().expect("a quantity"),
            )
        })
        .collect();
    q.sort_by(|a, b| a.partial_cmp(b).expect("numbers"));
    q
}

/// `text` with the seconds of the tests' day's times left out: each command
/// starts its clock at the tests' instant, and one that takes over a second
/// on a busy machine shows the next second.
fn seconds_left_out(text: &str) -> String {
    let prefix = "2026-11-27 06:00:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let end = at + prefix.len();
        out.push_str(&rest[..end]);
        let seconds = rest[end..].chars().take_while(char::is_ascii_digit).count();
        out.push_str(&"s".repeat(seconds));
        rest = &rest[end + seconds..];
    }
    out.push_str(rest);
    out
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout))
}

/// The line of `plan` for `org` and `package`.
fn line<'a>(plan: &'a Value, org: &str, package: &str) -> &'a Value {
    plan["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["org_id"] == org && l["package"] == package)
        .unwrap_or_else(|| panic!("plan has a line for {org}:{package}: {plan:#}"))
}

fn writes(env: &Env) -> Vec<String> {
    env.requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET"))
        .collect()
}

#[test]
fn review_approve_some_then_apply_writes_only_approved_lines_connectwise_still_shows() {
    let env = Env::new();
    env.configure();
    let before = env.sim.state_dump();

    // The review reads every organization and writes nothing.
    let review = json_of(&env.ok(&["review", "--json"]));
    assert_eq!(review["plan_id"], 1);
    assert_eq!(review["status"], "pending");
    assert_eq!(env.sim.state_dump(), before, "a review writes nothing");
    assert!(writes(&env).is_empty(), "{:?}", writes(&env));
    let update = line(&review, "pe-100729", "professional");
    assert_eq!(
        (
            &update["action"],
            &update["current_quantity"],
            &update["new_quantity"],
            &update["change"]
        ),
        (&json!("update"), &json!(118.0), &json!(120), &json!(2.0))
    );
    // Its addition bills 5.90 a unit: two more users are 11.80 more.
    assert_eq!(update["unit_price"], json!(5.9));
    assert!((update["money"].as_f64().unwrap() - 11.8).abs() < 1e-9);
    assert_eq!(line(&review, "pe-100533", "business")["action"], "create");
    assert_eq!(
        line(&review, "pe-100602", "professional")["action"],
        "conflict"
    );
    assert_eq!(review["totals"]["to_create"], 4);
    assert_eq!(review["totals"]["to_update"], 4);

    // A person approves three lines, rejects one, leaves the rest.
    env.ok(&[
        "approve",
        "1",
        "pe-100517",
        "pe-100671:advanced",
        "pe-100533",
    ]);
    env.ok(&["reject", "1", "pe-100703"]);
    // Meanwhile someone edits Alpine Ski House's Advanced addition.
    edit_in_connectwise(&env, 119, 20, 61.0);
    env.sim.clear_log();

    let applied = env.run(&["apply", "1", "--json"]);
    assert_eq!(
        applied.status, 2,
        "a changed line needs a person: {applied:?}"
    );
    let applied = json_of(&applied);
    let result = |org, package| line(&applied, org, package)["result"].clone();
    assert_eq!(result("pe-100517", "advanced"), "written");
    assert_eq!(result("pe-100533", "business"), "written");
    assert_eq!(result("pe-100671", "advanced"), "changed-since-review");
    assert_eq!(
        line(&applied, "pe-100671", "advanced")["result_message"],
        "changed since review: its quantity is now 61 (the review saw 60)"
    );
    assert_eq!(result("pe-100703", "business"), "not-approved");
    assert_eq!(result("pe-100729", "professional"), "not-approved");

    // ConnectWise got exactly the approved, unchanged lines.
    assert!(
        quantities(&env, 105).contains(&(20, 21.0)),
        "Fabrikam updated"
    );
    assert!(
        quantities(&env, 108).contains(&(19, 12.0)),
        "Northwind created"
    );
    assert!(
        quantities(&env, 119).contains(&(20, 61.0)),
        "the edit stands"
    );
    assert!(
        quantities(&env, 123).contains(&(19, 3.0)),
        "the rejected drop"
    );
    assert!(quantities(&env, 126).contains(&(21, 118.0)), "undecided");
    assert_eq!(
        writes(&env).len(),
        2,
        "one PATCH and one POST: {:?}",
        writes(&env)
    );

    // A plan is applied once.
    env.sim.clear_log();
    let again = env.run(&["apply", "1"]);
    assert_eq!(again.status, 1, "{again:?}");
    assert!(
        again.stderr.contains("plan 1 is applied")
            && again.stderr.contains("a plan is applied once"),
        "{}",
        again.stderr
    );
    assert!(env.requests().is_empty(), "a refused apply sends nothing");

    // The plan keeps every decision: who, when, what.
    let shown = env.ok(&["plan", "1"]);
    insta::assert_snapshot!("applied_plan", seconds_left_out(&env.redact(&shown.stdout)));
    let history = env.ok(&["history"]);
    assert!(
        history.stdout.contains("approved") && history.stdout.contains("tester"),
        "{}",
        history.stdout
    );
}

#[test]
fn rules_make_a_sync_hold_a_surprise_drop_until_a_person_approves_it() {
    let env = Env::new();
    env.configure();
    // The demo tenant has one conflict (two active additions for one
    // product), so its syncs end in `attention` whatever the rules.
    assert_eq!(env.run(&["sync"]).status, 2);
    // Lamna Healthcare drops from 120 users to 3; Contoso grows by 3.
    env.import_demo_usage_with(&[
        (
            "Lamna Healthcare Company,professional,120",
            "Lamna Healthcare Company,professional,3",
        ),
        (
            "pe-100482,Contoso,business,42",
            "pe-100482,Contoso,business,45",
        ),
    ]);
    env.hold_drops_over_20_percent();
    let policy = json_of(&env.ok(&["policy", "show", "--json"]));
    assert_eq!(
        policy,
        json!({"auto_approve": "increases", "hold_decrease_over": 20.0,
               "hold_increase_over": null, "hold_new_lines": false, "plan_expiry_days": 7,
               "effective_date": "today"})
    );

    env.sim.clear_log();
    let sync = env.run(&["sync"]);
    assert_eq!(sync.status, 2, "held lines need a person: {sync:?}");
    assert!(
        sync.stdout
            .contains("1 line(s) held for review by the approval rules in plan 1"),
        "{}",
        sync.stdout
    );
    assert!(
        quantities(&env, 102).contains(&(19, 45.0)),
        "the increase is written"
    );
    assert!(
        quantities(&env, 126).contains(&(21, 120.0)),
        "the drop is held"
    );
    // An organization the rules had nothing to hold costs its one read; the
    // two that changed were read before and again by their writes.
    let gets = env
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET"))
        .count();
    let orgs = 12;
    assert_eq!(gets, orgs + 1 + 1, "{:#?}", env.requests());

    let history = env.history();
    assert_eq!(history[0]["status"], "attention");
    assert_eq!(history[0]["totals"]["held"], 1);
    let run = history[0]["id"].as_i64().expect("a run id").to_string();
    let lines = json_of(&env.ok(&["history", "--run", &run, "--json"]));
    let held = lines["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["result"] == "held")
        .expect("a held line");
    assert_eq!(held["org_id"], "pe-100729");
    assert_eq!(
        held["message"],
        "held for review in plan 1: a drop of 97.5% (120 → 3) is over the 20% limit (--hold-decrease-over)"
    );

    // The next daily run holds it again rather than writing it.
    let plans = json_of(&env.ok(&["plans", "--json"]));
    assert_eq!(plans[0]["source"], "sync");
    assert_eq!(plans[0]["counts"]["changes"], 1);
    env.ok(&["approve", "1", "--all"]);
    let applied = env.run(&["apply", "1"]);
    assert_eq!(applied.status, 0, "{applied:?}");
    assert!(applied.stdout.contains("1 written"), "{}", applied.stdout);
    assert!(
        quantities(&env, 126).contains(&(21, 3.0)),
        "approved, then written"
    );
    env.run(&["sync"]);
    assert_eq!(
        env.history()[0]["totals"]["held"],
        0,
        "nothing left to hold"
    );
}

#[test]
fn bad_input_on_plans_gets_a_clear_error_and_changes_nothing() {
    let env = Env::new();
    env.configure();
    env.ok(&["review"]);
    let plans_before = env.ok(&["plans", "--json"]).stdout;
    let plan_before = env.ok(&["plan", "1", "--json"]).stdout;
    let refused = |args: &[&str], expected: &str| {
        let run = env.run(args);
        // 1 for a refused command, 2 for a command line clap rejects.
        assert_ne!(run.status, 0, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(expected),
            "{args:?}: expected {expected:?} in {}",
            run.stderr
        );
    };
    refused(
        &["plan", "9"],
        "no plan with id 9 in this tenant: run `seatsync plans`",
    );
    refused(&["approve", "9", "--all"], "no plan with id 9");
    refused(
        &["approve", "1", "pe-999999"],
        "plan 1 has no line for organization 'pe-999999'",
    );
    refused(
        &["approve", "1", "pe-100482:gold"],
        "no line for package 'gold' of organization 'pe-100482' (its packages: advanced, business)",
    );
    refused(
        &["approve", "1", "pe-100482:business"],
        "would not change anything (unchanged)",
    );
    refused(&["approve", "1"], "name the lines: ORG or ORG:PACKAGE");
    refused(&["apply", "1"], "plan 1 has no approved line");
    refused(&["--tenant", "other", "plan", "1"], "no plan with id 1");
    refused(
        &["policy", "set", "--hold-decrease-over", "lots"],
        "'lots' is not a percentage",
    );
    refused(
        &[
            "policy",
            "set",
            "--auto-approve",
            "none",
            "--plan-expiry-days",
            "0",
        ],
        "at least 1 day",
    );
    assert_eq!(env.ok(&["plans", "--json"]).stdout, plans_before);
    assert_eq!(env.ok(&["plan", "1", "--json"]).stdout, plan_before);
    assert_eq!(
        json_of(&env.ok(&["policy", "show", "--json"]))["auto_approve"],
        "all",
        "a refused policy set changes nothing"
    );

    // Eight days later the plan has expired.
    let late = env.run_later(
        &["approve", "1", "--all"],
        std::time::Duration::from_secs(8 * 86_400),
    );
    assert_eq!(late.status, 1);
    assert!(
        late.stderr
            .contains("plan 1 is expired: it expired at 2026-12-04 06:00 UTC"),
        "{}",
        late.stderr
    );
    // Newer usage expires it at once.
    let file = env.file("usage.csv", seatsync_fixtures::demo::USAGE_CSV);
    env.ok(&["usage", "import", file.to_str().expect("a UTF-8 path")]);
    env.sim.clear_log();
    refused(
        &["apply", "1"],
        "plan 1 is expired: newer usage was imported after it was made",
    );
    assert!(env.requests().is_empty(), "an expired plan sends nothing");
    assert_eq!(
        json_of(&env.ok(&["plans", "--json"]))[0]["status"],
        "expired"
    );
}

#[test]
fn the_demo_reviews_approves_applies_and_holds_a_surprise_drop() {
    // The README's first command, start to finish (it starts a simulator of
    // its own on a free loopback port).
    let env = Env::new();
    let demo = env.run(&["demo"]);
    assert_eq!(demo.status, 0, "{demo:?}");
    for expected in [
        "Mapped 11 organization(s); 2 left to map by hand (`seatsync orgs --unmapped`):",
        "pe-100845: no agreement chosen: the company has no active agreement",
        "[6/10] Review before billing",
        "Plan 1 (pending until 2026-12-04 06:00 UTC): 4 to create, 4 to update, 1 conflict(s)",
        "Plan 1 applied by run 2 (`seatsync history --run 2`): 8 written, 0 already right, 0 changed since review",
        "| pe-100729 |       126 | professional |     3 | HELD      |",
        "1 line(s) held for review by the approval rules in plan 2",
        "The demo is over",
    ] {
        assert!(
            demo.stdout.contains(expected),
            "{expected:?} in:\n{}",
            demo.stdout
        );
    }
}

#[test]
fn new_lines_start_on_the_first_of_next_month_when_the_policy_says_so() {
    let env = Env::new();
    env.configure();
    let effective = |agreement: u32, product: u64| -> Vec<String> {
        env.sim
            .additions(agreement)
            .iter()
            .filter(|a| a["product"]["id"] == json!(product) && a["cancelledDate"].is_null())
            .map(|a| a["effectiveDate"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let updated_before = effective(105, 20);
    env.ok(&["policy", "set", "--effective-date", "next-month"]);
    assert_eq!(
        json_of(&env.ok(&["policy", "show", "--json"]))["effective_date"],
        "next-month"
    );
    let preview = env.run(&["sync", "--dry-run"]);
    assert!(
        preview
            .stdout
            .contains("Created lines would start billing on 2026-12-01."),
        "{}",
        preview.stdout
    );
    let review = json_of(&env.ok(&["review", "--json"]));
    assert_eq!(review["new_lines_start"], "2026-12-01");

    env.run(&["sync"]);
    // Northwind's new addition bills from the first of next month; the
    // quantity of Fabrikam's existing one changed, its date did not.
    assert_eq!(effective(108, 19), vec!["2026-12-01T00:00:00Z"]);
    assert_eq!(effective(105, 20), updated_before);
    assert!(quantities(&env, 105).contains(&(20, 21.0)));
}
