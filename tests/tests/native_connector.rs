//! The connector's logic, built natively, against the ConnectWise simulator
//! over real loopback HTTP: the same requests the component sends, checked
//! against a server that enforces the API's rules (conditions, fields,
//! paging, required fields) rather than against canned answers.

use std::collections::BTreeMap;

use insta::assert_json_snapshot;
use seatsync_fixtures::{FaultAction, ScriptedFault, SimConfig, SimHandle, Simulator, demo};
use seatsync_plugin::model::{BillCustomer, LineOutcome, SyncLine, SyncReport, SyncRequest};
use seatsync_tests::{NativeHttp, demo_connection};

const TODAY: &str = "2026-11-27";

fn start() -> SimHandle {
    Simulator::start_blocking(SimConfig::default()).expect("the simulator starts on 127.0.0.1")
}

fn site(sim: &SimHandle) -> String {
    format!("http://{}", sim.addr())
}

/// One request per mapped demo organization, from the demo usage.
fn demo_requests() -> Vec<(String, SyncRequest)> {
    let mappings = demo::mappings();
    let mut lines: BTreeMap<String, Vec<SyncLine>> = BTreeMap::new();
    for row in demo::usage() {
        let Some(package) = mappings.packages.get(&row.package) else {
            continue;
        };
        lines.entry(row.org_id.clone()).or_default().push(SyncLine {
            package_key: row.package.clone(),
            product_id: package.product_id,
            quantity: row.active_users,
            bill_customer: match package.bill_customer.as_str() {
                "do-not-bill" => BillCustomer::DoNotBill,
                "no-charge" => BillCustomer::NoCharge,
                _ => BillCustomer::Billable,
            },
            taxable: package.taxable,
            description: None,
        });
    }
    mappings
        .organizations
        .iter()
        .map(|(org, m)| {
            let request = SyncRequest {
                company_id: m.company_id,
                agreement_id: m.agreement_id,
                lines: lines.remove(org).unwrap_or_default(),
                dry_run: false,
                effective_date: TODAY.into(),
                start_date: TODAY.into(),
                update_quantities: true,
                create_missing: true,
            };
            (org.clone(), request)
        })
        .collect()
}

fn sync_all(sim: &SimHandle, dry_run: bool) -> Vec<(String, SyncReport)> {
    let conn = demo_connection(&site(sim));
    demo_requests()
        .into_iter()
        .map(|(org, mut request)| {
            request.dry_run = dry_run;
            let report =
                seatsync_plugin::sync_organization(&mut NativeHttp::new(), &conn, &request)
                    .unwrap_or_else(|e| panic!("{org}: {e}"));
            (org, report)
        })
        .collect()
}

fn summary(reports: &[(String, SyncReport)]) -> Vec<String> {
    reports
        .iter()
        .flat_map(|(org, r)| {
            r.lines.iter().map(move |l| {
                let outcome = match &l.outcome {
                    LineOutcome::Failed(e) => format!("Failed({e})"),
                    other => format!("{other:?}"),
                };
                format!(
                    "{org} agreement {} {} x{}: {outcome} addition {:?}",
                    r.agreement_id, l.package_key, l.quantity, l.addition_id
                )
            })
        })
        .collect()
}

#[test]
fn test_connection_and_lists_read_everything() {
    let sim = start();
    let conn = demo_connection(&site(&sim));
    let mut http = NativeHttp::new();
    let info = seatsync_plugin::test_connection(&mut http, &conn).unwrap();
    assert_eq!(
        info.api_url,
        format!("{}/v4_6_release/apis/3.0", site(&sim))
    );

    sim.reset_counts();
    let products = seatsync_plugin::list_products(&mut http, &conn).unwrap();
    assert_eq!(products.len(), 1234);
    assert_eq!(sim.counts().total, 2, "1,234 items in pages of 1,000");

    let companies = seatsync_plugin::list_companies(&mut http, &conn).unwrap();
    assert!(companies.iter().all(|c| !c.deleted));
    let all = sim.tenant().companies.len();
    assert_eq!(
        companies.len(),
        all - 3,
        "the 3 deleted companies are left out"
    );

    let agreements = seatsync_plugin::list_agreements(&mut http, &conn, Some(254)).unwrap();
    assert!(!agreements.is_empty());
    assert!(agreements.iter().all(|a| a.company_id == 254));
}

#[test]
fn wrong_private_key_is_unauthorized() {
    let sim = start();
    let mut conn = demo_connection(&site(&sim));
    conn.private_key = "wrong".into();
    let err = seatsync_plugin::test_connection(&mut NativeHttp::new(), &conn).unwrap_err();
    assert!(
        matches!(err, seatsync_plugin::error::ConnectorError::Unauthorized(_)),
        "{err:?}"
    );
}

/// Dry run, sync, re-sync: the demo's whole story, natively.
#[test]
fn demo_tenant_sync_then_resync_changes_nothing() {
    let sim = start();
    let agreements: Vec<u32> = demo_requests()
        .iter()
        .map(|(_, r)| r.agreement_id)
        .collect();
    let before = sim.state_dump_for(&agreements);

    sim.reset_counts();
    let dry = sync_all(&sim, true);
    assert_eq!(sim.counts().writes, 0, "a dry run writes nothing");
    assert_eq!(sim.state_dump_for(&agreements), before);
    assert_eq!(
        sim.counts().total as usize,
        dry.len(),
        "one read per organization"
    );

    sim.reset_counts();
    let first = sync_all(&sim, false);
    let planned_writes: u32 = dry
        .iter()
        .map(|(_, r)| {
            r.lines
                .iter()
                .filter(|l| {
                    matches!(
                        l.outcome,
                        LineOutcome::Created | LineOutcome::Updated { .. }
                    )
                })
                .count() as u32
        })
        .sum();
    assert_eq!(
        sim.counts().writes as u32,
        planned_writes,
        "the sync did what the dry run said"
    );
    assert_eq!(
        first.iter().map(|(_, r)| r.writes).sum::<u32>(),
        planned_writes
    );

    sim.reset_counts();
    let again = sync_all(&sim, false);
    assert_eq!(sim.counts().writes, 0, "a re-sync writes nothing");
    assert_eq!(
        sim.counts().total as usize,
        again.len(),
        "exactly one request per organization"
    );
    for (org, report) in &again {
        assert!(
            report.lines.iter().all(|l| matches!(
                l.outcome,
                LineOutcome::Unchanged | LineOutcome::Conflict(_) | LineOutcome::Skipped(_)
            )),
            "{org}: {report:?}"
        );
    }

    assert_json_snapshot!("demo_first_sync", summary(&first));
    assert_json_snapshot!("demo_state_after_sync", sim.state_dump_for(&agreements));
}

/// ConnectWise creates the addition but the answer is lost: the connector
/// reads before it posts again, so there is exactly one addition.
#[test]
fn an_ambiguous_create_never_duplicates() {
    let sim = start();
    let (org, request) = demo_requests()
        .into_iter()
        .find(|(_, r)| r.agreement_id == 129)
        .expect("the demo has an organization on agreement 129 (no additions)");
    sim.push_fault(
        ScriptedFault::new(
            "POST",
            "finance/agreements/*/additions",
            FaultAction::service_unavailable(),
        )
        .after_apply(),
    );
    let conn = demo_connection(&site(&sim));
    let report =
        seatsync_plugin::sync_organization(&mut NativeHttp::new(), &conn, &request).unwrap();
    assert!(
        report
            .lines
            .iter()
            .all(|l| l.outcome == LineOutcome::Created),
        "{org}: {report:?}"
    );
    let additions = sim.additions(129);
    for line in &request.lines {
        let count = additions
            .iter()
            .filter(|a| a["product"]["id"] == line.product_id && a["cancelledDate"].is_null())
            .count();
        assert_eq!(
            count, 1,
            "product {} on agreement 129: {additions:#?}",
            line.product_id
        );
    }
    let posts = sim
        .request_log()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(
        posts,
        request.lines.len(),
        "one POST per line, none repeated"
    );
}
