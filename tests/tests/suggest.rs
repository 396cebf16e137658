//! `seatsync map suggest` measured on a generated tenant
//! (`seatsync_fixtures::matching`): 400 organizations, more companies than
//! organizations, names written the ways real exports write them, decoys,
//! and prospects with no company. Prints precision and coverage and fails
//! under the targets (confident suggestions at least 99% right, covering at
//! least 85% of the organizations). `SEED=N` measures another generated
//! tenant (the test uses 2026).

mod common;

use common::*;
use seatsync_fixtures::SimConfig;
use seatsync_fixtures::matching::{generate, precision_and_coverage};
use serde_json::Value;

#[test]
fn suggestions_are_precise_and_cover_most_organizations_and_apply_maps_only_confident_ones() {
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2026);
    let generated = generate(400, seed);
    let env = Env::with_sim(SimConfig {
        tenant: generated.tenant.clone(),
        ..SimConfig::default()
    });
    let connected = env.connect();
    assert_eq!(connected.status, 0, "{}", connected.stderr);
    let usage = env.file("usage.csv", &generated.usage_csv);
    let imported = env.ok(&["usage", "import", usage.to_str().expect("a UTF-8 path")]);
    // Past a screenful, counts; and how many suggestions are ready.
    assert!(
        imported
            .stdout
            .contains("New organizations: 400 (map them with")
            && imported
                .stdout
                .contains("of the 400 unmapped organization(s) have a confident suggestion"),
        "{}",
        imported.stdout
    );

    env.sim.clear_log();
    let out = env.ok(&[
        "map",
        "suggest",
        "--json",
        "--agreement-type",
        "Managed Services",
    ]);
    let suggestions: Vec<Value> = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(suggestions.len(), 400);
    // The companies and the agreements, each read once (paged), whatever
    // the number of organizations.
    let reads = env.requests();
    assert_eq!(reads.len(), 2, "{reads:#?}");

    let (precision, coverage, wrong) = precision_and_coverage(&generated.truth, &suggestions);
    println!(
        "map suggest on the generated tenant: precision {:.2}% of confident suggestions, coverage {:.2}% of organizations",
        precision * 100.0,
        coverage * 100.0
    );
    assert!(precision >= 0.99, "precision {precision}: {wrong:#?}");
    assert!(coverage >= 0.85, "coverage {coverage}");
    // The JSON is the documented shape.
    let first = &suggestions[0];
    for key in [
        "org_id",
        "org_name",
        "company_id",
        "company_name",
        "agreement_id",
        "agreement_name",
        "score",
        "confident",
        "reason",
        "alternatives",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first:#}");
    }

    // --apply maps the confident ones at or above the minimum score, each
    // to its company's Managed Services agreement, and nothing else.
    let applied = env.ok(&[
        "map",
        "suggest",
        "--apply",
        "--agreement-type",
        "Managed Services",
    ]);
    assert!(applied.stdout.contains("Mapped "), "{}", applied.stdout);
    let orgs: Vec<Value> = serde_json::from_str(&env.ok(&["orgs", "--json"]).stdout).expect("JSON");
    let mut mapped = 0;
    for org in &orgs {
        let id = org["org_id"].as_str().expect("an id");
        let Some(company) = org["company_id"].as_u64() else {
            continue;
        };
        mapped += 1;
        let suggestion = suggestions
            .iter()
            .find(|s| s["org_id"] == id)
            .expect("a suggestion");
        assert_eq!(suggestion["confident"], true, "{suggestion:#}");
        assert!(
            suggestion["score"].as_f64().unwrap() >= 0.9,
            "{suggestion:#}"
        );
        assert_eq!(
            generated.truth[id],
            Some(company as u32),
            "{id} mapped to the wrong company"
        );
        assert_eq!(
            org["agreement_id"].as_u64(),
            generated.managed_services.get(id).map(|a| u64::from(*a)),
            "{id}"
        );
    }
    assert!(mapped as f64 >= 0.85 * 400.0 * precision, "{mapped} mapped");
    // Nothing left to map for those: a second run suggests only the rest.
    let rest: Vec<Value> =
        serde_json::from_str(&env.ok(&["map", "suggest", "--json"]).stdout).expect("JSON");
    assert_eq!(rest.len(), 400 - mapped);
}

#[test]
fn the_agreement_already_holding_mapped_products_is_chosen_among_several() {
    let env = Env::new();
    env.configure();
    // Unmap every organization (the packages stay mapped).
    let exported = env.ok(&["mappings", "export"]).stdout;
    let unmapped: String = exported
        .lines()
        .map(|l| {
            if l.starts_with("org,") {
                let mut fields: Vec<&str> = l.rsplitn(3, ',').collect();
                fields.reverse();
                format!("{},,", fields[0])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let file = env.file("unmapped.csv", &format!("{unmapped}\n"));
    env.ok(&["mappings", "import", file.to_str().expect("a UTF-8 path")]);

    let suggestions: Vec<Value> =
        serde_json::from_str(&env.ok(&["map", "suggest", "--json"]).stdout).expect("JSON");
    let of = |org: &str| {
        suggestions
            .iter()
            .find(|s| s["org_id"] == org)
            .unwrap_or_else(|| panic!("a suggestion for {org}"))
    };
    // Contoso has three active agreements; its email-security lines are on
    // 102, the one the demo bills.
    assert_eq!(of("pe-100482")["agreement_id"], 102);
    assert_eq!(
        of("pe-100482")["agreement_reason"],
        "the agreement already holding lines of mapped products"
    );
    // Northwind has three and no line yet: a person (or --agreement-type)
    // chooses.
    assert_eq!(of("pe-100533")["agreement_id"], Value::Null);
    assert!(
        of("pe-100533")["agreement_reason"]
            .as_str()
            .unwrap()
            .starts_with("3 active agreements: pass --agreement-type"),
        "{:#}",
        of("pe-100533")
    );
    let typed: Vec<Value> = serde_json::from_str(
        &env.ok(&[
            "map",
            "suggest",
            "--json",
            "--agreement-type",
            "email security",
        ])
        .stdout,
    )
    .expect("JSON");
    let northwind = typed
        .iter()
        .find(|s| s["org_id"] == "pe-100533")
        .expect("Northwind");
    assert_eq!(northwind["agreement_id"], 108);
}
