//! Mappings in bulk through the `seatsync` binary against the simulated
//! ConnectWise: export, edit, import (all or nothing, bad rows named by
//! line, the PSA's lists read once), and what a usage import says when it
//! brings more names than fit on a screen.

mod common;

use common::*;

/// `text` with each `(from, to)` replaced, each present.
fn edited(text: &str, changes: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (from, to) in changes {
        assert!(out.contains(from), "{from:?} in:\n{out}");
        out = out.replace(from, to);
    }
    out
}

#[test]
fn export_edit_import_round_trips_and_reads_each_list_once() {
    let env = Env::new();
    env.configure();
    let exported = env.ok(&["mappings", "export"]).stdout;
    insta::assert_snapshot!("exported_csv", exported);

    let edits = [
        // Contoso moves to its other agreement; Proseware is switched off;
        // Trey Research is unmapped; Business is no longer billed.
        (
            "org,pe-100482,Contoso,true,,,254,102",
            "org,pe-100482,Contoso,true,,,254,101",
        ),
        (
            "org,pe-100790,Proseware,true,,,291,133",
            "org,pe-100790,Proseware,false,,,291,133",
        ),
        (
            "org,pe-100812,Trey Research,true,,,303,139",
            "org,pe-100812,Trey Research,true,,,,",
        ),
        (
            "package,business,,true,19,bill-method=billable;taxable=true,,",
            "package,business,,true,19,bill-method=do-not-bill;taxable=true,,",
        ),
    ];
    let file = env.file("mappings.csv", &edited(&exported, &edits));
    let path = file.to_str().expect("a UTF-8 path");

    let dry = env.ok(&["mappings", "import", path, "--dry-run"]);
    assert!(
        dry.stdout
            .contains("Checked (dry run, nothing changed) 16 row(s) from")
            && dry.stdout.contains("4 change(s); 14 mapped, 2 unmapped."),
        "{}",
        dry.stdout
    );
    assert_eq!(
        env.ok(&["mappings", "export"]).stdout,
        exported,
        "a dry run changes nothing"
    );

    env.sim.clear_log();
    env.ok(&["mappings", "import", path]);
    let round_trip = env.ok(&["mappings", "export"]).stdout;
    assert_eq!(round_trip, edited(&exported, &edits));
    // The catalog, the companies and the agreements, each read once
    // (paged), not once per row.
    let reads = env.requests();
    let count = |path: &str| {
        reads
            .iter()
            .filter(|r| r.starts_with(&format!("GET /v4_6_release/apis/3.0{path}?")))
            .count()
    };
    assert_eq!(count("/company/companies"), 1, "{reads:#?}");
    assert_eq!(count("/finance/agreements"), 1, "{reads:#?}");
    assert!(count("/procurement/catalog") <= 6, "{reads:#?}");
    assert!(
        reads.iter().all(|r| r.starts_with("GET")),
        "an import writes nothing to the PSA"
    );

    // The same file again changes nothing; JSON round-trips too.
    let again = env.ok(&["mappings", "import", path]);
    assert!(again.stdout.contains("0 change(s)"), "{}", again.stdout);
    let json = env.ok(&["mappings", "export", "--format", "json"]).stdout;
    let json_file = env.file("mappings.json", &json);
    let from_json = env.ok(&[
        "mappings",
        "import",
        json_file.to_str().expect("a UTF-8 path"),
    ]);
    assert!(
        from_json.stdout.contains("0 change(s)"),
        "{}",
        from_json.stdout
    );
    assert_eq!(env.ok(&["mappings", "export"]).stdout, round_trip);
}

#[test]
fn a_file_with_bad_rows_is_refused_whole_and_names_each_line() {
    let env = Env::new();
    env.configure();
    let exported = env.ok(&["mappings", "export"]).stdout;
    let bad = edited(
        &exported,
        &[
            // Line 2: a product the catalog does not have.
            (
                "package,advanced,,true,20,",
                "package,advanced,,true,999999,",
            ),
            // Line 4: an option value the connector does not allow.
            (
                "package,professional,,true,21,bill-method=billable",
                "package,professional,,true,21,bill-method=sometimes",
            ),
            // Line 7: agreement 102 is Contoso's, not Northwind's.
            (
                "org,pe-100533,Northwind Traders,true,,,259,108",
                "org,pe-100533,Northwind Traders,true,,,259,102",
            ),
            // Line 8: Tailspin onto Contoso's agreement 102, which Contoso
            // (line 5) keeps.
            (
                "org,pe-100561,Tailspin Toys,true,,,265,111",
                "org,pe-100561,Tailspin Toys,true,,,254,102",
            ),
        ],
    );
    let file = env.file("mappings.csv", &bad);
    let run = env.run(&["mappings", "import", file.to_str().expect("a UTF-8 path")]);
    assert_eq!(run.status, 1, "{run:?}");
    insta::assert_snapshot!("refused_import", run.stderr);
    assert_eq!(
        env.ok(&["mappings", "export"]).stdout,
        exported,
        "nothing changed"
    );

    // A row that cannot even be read names its line too.
    let unreadable = env.file(
        "broken.csv",
        &format!("{exported}org,pe-100845,Bellows,true,,,283,\n"),
    );
    let run = env.run(&[
        "mappings",
        "import",
        unreadable.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr
            .contains("line 18: give both company_id and agreement_id, or neither to unmap"),
        "{}",
        run.stderr
    );
    assert_eq!(env.ok(&["mappings", "export"]).stdout, exported);
}

#[test]
fn a_usage_import_past_a_screenful_gives_counts_and_the_command_that_lists_them() {
    let env = Env::new();
    env.configure();
    let mut usage = seatsync_fixtures::demo::USAGE_CSV.to_string();
    for i in 0..30 {
        usage.push_str(&format!("pe-9{i:05},New Customer {i},business,{}\n", i + 1));
    }
    let file = env.file("usage.csv", &usage);
    let run = env.ok(&["usage", "import", file.to_str().expect("a UTF-8 path")]);
    assert!(
        run.stdout.contains("New organizations: 30 (map them with")
            && run
                .stdout
                .contains("list them with `seatsync orgs --unmapped`"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("pe-900007"),
        "no list past a screenful"
    );
    let unmapped: serde_json::Value =
        serde_json::from_str(&env.ok(&["orgs", "--unmapped", "--json"]).stdout).expect("JSON");
    // The 30 new ones and the demo's unmapped trial organization.
    assert_eq!(unmapped.as_array().map(Vec::len), Some(31));
}
