//! The real ConnectWise component (the `.wasm` the host embeds, built from
//! `plugin/`), snapshot-tested through the kit: each test scripts the
//! ConnectWise API, makes one contract call, and snapshots the transcript.

use std::collections::BTreeMap;
use std::path::PathBuf;

use insta::assert_yaml_snapshot;
use seatsync_testkit::{
    ConnectorError, Kit, RecordedRequest, Script, ScriptedResponse, Settings, SyncLine, SyncRequest,
};

/// The API's base under the default codebase.
const API: &str = "/v4_6_release/apis/3.0";

/// The private key every test uses; no transcript may contain it.
const PRIVATE_KEY: &str = "Pr1vate-K3y-do-not-print";

/// The sync's day: fixed, so that no test depends on the date.
const TODAY: &str = "2026-11-27";

fn kit() -> Kit {
    Kit::new(seatsync_host::DEFAULT_COMPONENT).expect("the built-in connector loads")
}

/// The connection an MSP would enter, pointed at the kit's server.
fn settings(kit: &Kit) -> Settings {
    [
        ("site", kit.base_url()),
        ("company-id", "acmeit".to_string()),
        ("public-key", "X3pUbl1cK3y".to_string()),
        ("private-key", PRIVATE_KEY.to_string()),
        (
            "client-id",
            "3c8e1f52-7d2a-4c5b-9f0e-seatsync-test".to_string(),
        ),
    ]
    .into_iter()
    .collect()
}

fn script(name: &str) -> Script {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts/connectwise")
        .join(name);
    Script::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_no_secret(text: &str) {
    assert!(
        !text.contains(PRIVATE_KEY),
        "the private key leaked:\n{text}"
    );
}

#[test]
fn describe() {
    let t = kit().describe();
    assert_eq!(t.requests(), 0);
    assert_yaml_snapshot!(t);
}

#[test]
fn test_connection_succeeds() {
    let kit = kit();
    kit.script(script("test_connection.json"));
    let t = kit.test_connection(&settings(&kit));
    let info = t.expect_ok();
    assert_eq!(info.endpoint, format!("{}{API}", kit.base_url()));
    assert!(t.unmatched().is_empty());
    assert_eq!((t.requests(), t.writes()), (5, 0));
    let shown = serde_json::to_string(&t).unwrap();
    assert_no_secret(&shown);
    assert!(!shown.contains(&kit.base_url()), "{shown}");
    assert_yaml_snapshot!(t);
}

#[test]
fn test_connection_with_refused_keys_is_unauthorized() {
    let kit = kit();
    kit.script(script("unauthorized.json"));
    let t = kit.test_connection(&settings(&kit));
    assert!(
        matches!(t.err(), Some(ConnectorError::Unauthorized(_))),
        "{t:?}"
    );
    assert_eq!(t.requests(), 1, "a 401 is never retried");
    assert_yaml_snapshot!(t);
}

/// The tenant's catalog (1,234 items) served in ConnectWise's pages by a
/// handler: the connector reads page 1 (1,000 items, full), then page 2.
#[test]
fn list_products_reads_every_page() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/connectwise/tenant/catalog.json");
    let catalog: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let kit = kit();
    kit.handler(move |request: &RecordedRequest| {
        if request.method != "GET" || request.path != format!("{API}/procurement/catalog") {
            return None;
        }
        let page: usize = request.query_param("page")?.parse().ok()?;
        let size: usize = request.query_param("pageSize")?.parse().ok()?;
        let items: Vec<_> = catalog.iter().skip((page - 1) * size).take(size).collect();
        Some(ScriptedResponse::json(200, serde_json::json!(items)))
    });
    let t = kit.list_products(&settings(&kit));
    let products = t.expect_ok();
    assert_eq!(products.len(), 1234);
    assert!(products.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(t.exchanges().len(), 2, "two pages");
    // The 1,234 products would drown the snapshot: keep their count and
    // the first and last.
    let t = t.map(|products| {
        serde_json::json!({
            "count": products.len(),
            "first": products.first(),
            "last": products.last(),
        })
    });
    assert_yaml_snapshot!(t);
}

fn line(package_key: &str, product_id: i64, quantity: u32) -> SyncLine {
    SyncLine {
        package_key: package_key.into(),
        product_id,
        quantity,
        options: BTreeMap::from([
            ("bill-method".to_string(), "billable".to_string()),
            ("taxable".to_string(), "true".to_string()),
        ]),
        description: None,
    }
}

/// Contoso Ltd (company 254) on agreement 102: 45 business users (the
/// addition says 42) and 5 advanced users (no addition yet).
fn sync_request(dry_run: bool) -> SyncRequest {
    SyncRequest {
        company_id: 254,
        contract_id: 102,
        lines: vec![line("business", 19, 45), line("advanced", 20, 5)],
        dry_run,
        today: TODAY.into(),
        start_date: TODAY.into(),
        update_quantities: true,
        create_missing: true,
    }
}

#[test]
fn sync_updates_one_addition_and_creates_another() {
    let kit = kit();
    kit.script(script("sync_update_and_create.json"));
    let t = kit.sync_organization(&settings(&kit), &sync_request(false));
    let report = t.expect_ok();
    assert_eq!((report.requests, report.writes), (3, 2));
    assert_eq!((t.requests(), t.writes()), (3, 2));
    assert!(t.unmatched().is_empty());
    assert_yaml_snapshot!(t.without_headers());
}

#[test]
fn dry_run_reads_once_and_writes_nothing() {
    let kit = kit();
    kit.script(script("sync_update_and_create.json"));
    let t = kit.sync_organization(&settings(&kit), &sync_request(true));
    let report = t.expect_ok();
    assert!(report.dry_run);
    assert_eq!((t.requests(), t.writes()), (1, 0));
    assert_yaml_snapshot!(t.without_headers());
}

/// `end-line` through the real component: the addition is read through its
/// agreement, then ended by a PATCH of its `cancelledDate`.
#[test]
fn end_line_reads_the_addition_then_sets_its_cancelled_date() {
    let kit = kit();
    kit.script(script("end_line.json"));
    let t = kit.end_line(&settings(&kit), 102, 16, TODAY);
    t.expect_ok();
    assert_eq!((t.requests(), t.writes()), (2, 1));
    assert!(t.unmatched().is_empty());
    assert_yaml_snapshot!(t.without_headers());
}

/// A line of another agreement: ConnectWise answers 404 for it under this
/// agreement's path, and nothing is written.
#[test]
fn end_line_of_another_agreement_writes_nothing() {
    let kit = kit();
    kit.script(script("end_line.json"));
    let t = kit.end_line(&settings(&kit), 105, 16, TODAY);
    assert!(
        matches!(t.err(), Some(ConnectorError::NotFound(m)) if m.starts_with("agreement 105 has no addition 16")),
        "{t:?}"
    );
    assert_eq!(t.writes(), 0);
}
