//! `sync-organization`: the fewest requests, the right writes, and never a
//! duplicate addition.

mod support;

use insta::assert_snapshot;
use seatsync_plugin::error::ConnectorError;
use seatsync_plugin::model::{BillCustomer, LineOutcome, SyncLine, SyncReport, SyncRequest};
use support::*;

const BUSINESS: u32 = 19;
const ADVANCED: u32 = 20;
const PROFESSIONAL: u32 = 21;
const AWARENESS: u32 = 24;
const ARCHIVE: u32 = 23;

fn line(package_key: &str, product_id: u32, quantity: u32) -> SyncLine {
    SyncLine {
        package_key: package_key.into(),
        product_id,
        quantity,
        bill_customer: BillCustomer::Billable,
        taxable: true,
        description: None,
    }
}

/// Contoso Ltd (company 254) on agreement 102, synced on 2026-11-27.
fn request(lines: Vec<SyncLine>) -> SyncRequest {
    SyncRequest {
        company_id: 254,
        agreement_id: 102,
        lines,
        dry_run: false,
        effective_date: "2026-11-27".into(),
        start_date: "2026-11-27".into(),
        update_quantities: true,
        create_missing: true,
    }
}

fn three_packages(business: u32, advanced: u32, professional: u32) -> Vec<SyncLine> {
    vec![
        line("business", BUSINESS, business),
        line("advanced", ADVANCED, advanced),
        line("professional", PROFESSIONAL, professional),
    ]
}

fn run(
    replies: Vec<Reply>,
    request: &SyncRequest,
) -> (Result<SyncReport, ConnectorError>, Scripted) {
    let mut t = Scripted::new(replies);
    let result = seatsync_plugin::sync_organization(&mut t, &cloud_connection(), request);
    (result, t)
}

fn outcomes(report: &SyncReport) -> Vec<(&str, &LineOutcome, Option<u32>)> {
    report
        .lines
        .iter()
        .map(|l| (l.package_key.as_str(), &l.outcome, l.addition_id))
        .collect()
}

#[test]
fn unchanged_counts_cost_exactly_one_request_and_no_write() {
    let req = request(three_packages(42, 5, 12));
    let (result, t) = run(vec![json(200, "additions_unchanged.json")], &req);
    let report = result.as_ref().unwrap();
    assert_eq!((report.requests, report.writes), (1, 0));
    assert_eq!((t.requests.len(), t.write_count()), (1, 0));
    assert!(
        report
            .lines
            .iter()
            .all(|l| l.outcome == LineOutcome::Unchanged)
    );
    assert_eq!(
        report.lines[2].addition_id,
        Some(40),
        "11.999999999 rounds to 12"
    );
    assert_snapshot!(t.finish(&result));
}

#[test]
fn a_new_organization_with_k_packages_costs_one_read_and_k_creates() {
    let req = request(three_packages(42, 5, 12));
    let (result, t) = run(
        vec![
            json(200, "additions_none.json"),
            json(201, "addition_created_business.json"),
            json(201, "addition_created_advanced.json"),
            json(201, "addition_created_professional.json"),
        ],
        &req,
    );
    let report = result.as_ref().unwrap();
    assert_eq!((report.requests, report.writes), (1 + 3, 3));
    assert_eq!(
        outcomes(report),
        [
            ("business", &LineOutcome::Created, Some(9001)),
            ("advanced", &LineOutcome::Created, Some(9002)),
            ("professional", &LineOutcome::Created, Some(9001)),
        ]
    );
    assert_snapshot!(t.finish(&result));
}

/// Update one, create one (beside a cancelled addition for the product),
/// leave one, report a duplicate, skip a zero count: one request per change.
#[test]
fn mixed_agreement_updates_creates_and_reports_conflicts() {
    let mut lines = three_packages(42, 8, 12);
    lines.push(line("awareness", AWARENESS, 31));
    lines.push(line("archive", ARCHIVE, 0));
    lines[2].description = Some("Email security - Professional (per user)".into());
    lines[2].bill_customer = BillCustomer::NoCharge;
    lines[2].taxable = false;
    let req = request(lines);
    let (result, t) = run(
        vec![
            json(200, "additions_mixed.json"),
            json(200, "addition_patched_advanced_8.json"),
            json(201, "addition_created_professional.json"),
        ],
        &req,
    );
    let report = result.as_ref().unwrap();
    assert_eq!((report.requests, report.writes), (3, 2));
    assert_eq!(
        report.lines[1].outcome,
        LineOutcome::Updated {
            previous_quantity: 5.0
        }
    );
    assert_eq!(report.lines[2].outcome, LineOutcome::Created);
    assert_eq!(report.lines[3].outcome, LineOutcome::Conflict(vec![41, 42]));
    assert!(matches!(report.lines[4].outcome, LineOutcome::Skipped(_)));
    assert!(
        t.requests.iter().all(|r| !r.url.contains("/additions/12")),
        "the cancelled addition is never touched"
    );
    assert_snapshot!(t.finish(&result));
}

#[test]
fn dry_run_reads_once_and_writes_nothing() {
    let mut lines = three_packages(42, 8, 12);
    lines.push(line("awareness", AWARENESS, 31));
    let mut req = request(lines);
    req.dry_run = true;
    let (result, t) = run(vec![json(200, "additions_mixed.json")], &req);
    let report = result.as_ref().unwrap();
    assert_eq!((report.requests, report.writes, t.write_count()), (1, 0, 0));
    assert_eq!(
        report.lines[1].outcome,
        LineOutcome::Updated {
            previous_quantity: 5.0
        }
    );
    assert_eq!(
        (&report.lines[2].outcome, report.lines[2].addition_id),
        (&LineOutcome::Created, None)
    );
    assert_snapshot!(t.finish(&result));
}

#[test]
fn disabled_data_types_write_nothing() {
    let mut req = request(three_packages(42, 8, 12));
    req.update_quantities = false;
    req.create_missing = false;
    let (result, t) = run(vec![json(200, "additions_mixed.json")], &req);
    let report = result.as_ref().unwrap();
    assert_eq!((report.requests, report.writes), (1, 0));
    assert_eq!(report.lines[0].outcome, LineOutcome::Unchanged);
    assert!(
        matches!(&report.lines[1].outcome, LineOutcome::Skipped(r) if r.contains("user-counts"))
    );
    assert!(matches!(&report.lines[2].outcome, LineOutcome::Skipped(r) if r.contains("packages")));
    assert_snapshot!(t.finish(&result));
}

/// The POST reached ConnectWise but the answer was a 503: the re-read finds
/// the addition, so it is not posted again.
#[test]
fn an_ambiguous_create_is_confirmed_by_reading_not_by_posting_again() {
    let req = request(vec![
        line("business", BUSINESS, 42),
        line("professional", PROFESSIONAL, 12),
    ]);
    let (result, t) = run(
        vec![
            json(200, "additions_business_only.json"),
            raw(503, "text/html", "service_unavailable.html"),
            json(200, "additions_professional_created.json"),
        ],
        &req,
    );
    let report = result.as_ref().unwrap();
    assert_eq!(report.lines[1].outcome, LineOutcome::Created);
    assert_eq!(report.lines[1].addition_id, Some(9001));
    let posts = t
        .requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 1, "never posted twice");
    assert_eq!((report.requests, report.writes), (3, 1));
    assert_snapshot!(t.finish(&result));
}

/// A 503 from the gateway and nothing there on re-reading: the create never
/// reached ConnectWise, so only then is the POST sent again.
#[test]
fn a_create_that_did_not_land_is_retried_after_reading() {
    let req = request(vec![
        line("business", BUSINESS, 42),
        line("professional", PROFESSIONAL, 12),
    ]);
    let (result, t) = run(
        vec![
            json(200, "additions_business_only.json"),
            raw(503, "text/html", "service_unavailable.html"),
            json(200, "additions_none.json"),
            json(201, "addition_created_professional.json"),
        ],
        &req,
    );
    let report = result.as_ref().unwrap();
    assert_eq!(report.lines[1].outcome, LineOutcome::Created);
    assert_eq!((report.requests, report.writes), (4, 1));
    assert_snapshot!(t.finish(&result));
}

/// No answer at all (a reset, a timeout): ConnectWise may still be creating
/// the addition, so it is not sent again in this call even though the
/// re-read does not show it yet; the next sync reads first.
#[test]
fn a_create_that_got_no_answer_is_not_sent_again() {
    let req = request(vec![line("professional", PROFESSIONAL, 12)]);
    let (result, t) = run(
        vec![
            json(200, "additions_none.json"),
            no_response("connection reset by peer"),
            json(200, "additions_none.json"),
        ],
        &req,
    );
    let report = result.as_ref().unwrap();
    assert!(
        matches!(&report.lines[0].outcome, LineOutcome::Failed(ConnectorError::Transport(m)) if m.contains("not sent again")),
        "{report:?}"
    );
    let posts = t
        .requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 1);
    assert_snapshot!(t.finish(&result));
}

#[test]
fn a_create_that_keeps_failing_ambiguously_gives_up_without_duplicates() {
    let req = request(vec![line("professional", PROFESSIONAL, 12)]);
    let mut replies = vec![json(200, "additions_none.json")];
    for _ in 0..3 {
        replies.push(raw(503, "text/html", "service_unavailable.html"));
        replies.push(json(200, "additions_none.json"));
    }
    let (result, t) = run(replies, &req);
    let report = result.as_ref().unwrap();
    assert!(matches!(
        &report.lines[0].outcome,
        LineOutcome::Failed(ConnectorError::Remote { status: 503, .. })
    ));
    assert_eq!(report.writes, 0);
    assert_eq!(t.write_count(), 3, "bounded: three POSTs");
    assert_snapshot!(t.finish(&result));
}

#[test]
fn throttled_create_is_sent_again_after_retry_after() {
    let req = request(vec![line("professional", PROFESSIONAL, 12)]);
    let (result, t) = run(
        vec![
            json(200, "additions_none.json"),
            with_headers(json(429, "error_429.json"), &[("Retry-After", "3")]),
            json(201, "addition_created_professional.json"),
        ],
        &req,
    );
    let report = result.as_ref().unwrap();
    assert_eq!(report.lines[0].outcome, LineOutcome::Created);
    assert_eq!((report.requests, report.writes), (3, 1));
    assert_snapshot!(t.finish(&result));
}

/// PATCH can answer 200 and change nothing; the returned quantity is checked.
#[test]
fn a_patch_that_did_not_take_is_reported() {
    let req = request(vec![line("advanced", ADVANCED, 8)]);
    let (result, t) = run(
        vec![
            json(200, "additions_unchanged.json"),
            json(200, "addition_patch_ignored_advanced_5.json"),
        ],
        &req,
    );
    let report = result.as_ref().unwrap();
    assert!(
        matches!(&report.lines[0].outcome, LineOutcome::Failed(ConnectorError::InvalidResponse(m)) if m.contains("reports 5"))
    );
    assert_snapshot!(t.finish(&result));
}

/// A line ConnectWise rejects fails alone; the next line is still written.
#[test]
fn a_rejected_line_does_not_stop_the_others() {
    let req = request(vec![
        line("professional", PROFESSIONAL, 12),
        line("business", BUSINESS, 42),
    ]);
    let (result, t) = run(
        vec![
            json(200, "additions_none.json"),
            json(400, "error_400_inactive_product.json"),
            json(201, "addition_created_business.json"),
        ],
        &req,
    );
    let report = result.as_ref().unwrap();
    assert!(matches!(
        &report.lines[0].outcome,
        LineOutcome::Failed(ConnectorError::Remote { status: 400, .. })
    ));
    assert_eq!(report.lines[1].outcome, LineOutcome::Created);
    assert_snapshot!(t.finish(&result));
}

/// Credentials revoked mid-run: the remaining lines are not attempted.
#[test]
fn a_401_mid_run_stops_the_remaining_lines() {
    let req = request(three_packages(42, 5, 12));
    let (result, t) = run(
        vec![
            json(200, "additions_none.json"),
            json(201, "addition_created_business.json"),
            json(401, "error_401.json"),
        ],
        &req,
    );
    let report = result.as_ref().unwrap();
    assert_eq!(report.lines[0].outcome, LineOutcome::Created);
    assert!(matches!(
        report.lines[1].outcome,
        LineOutcome::Failed(ConnectorError::Unauthorized(_))
    ));
    assert!(
        matches!(&report.lines[2].outcome, LineOutcome::Skipped(r) if r.contains("earlier error"))
    );
    assert_eq!((report.requests, report.writes), (3, 1));
    assert_snapshot!(t.finish(&result));
}

#[test]
fn a_deleted_agreement_fails_the_organization() {
    let req = request(three_packages(42, 5, 12));
    let (result, t) = run(vec![json(404, "error_404_agreement.json")], &req);
    assert!(matches!(&result, Err(ConnectorError::NotFound(m)) if m.contains("agreement 102")));
    assert_snapshot!(t.finish(&result));
}

#[test]
fn two_packages_on_one_product_are_a_conflict_and_nothing_is_written() {
    let req = request(vec![
        line("business", BUSINESS, 40),
        line("business-annual", BUSINESS, 2),
    ]);
    let (result, t) = run(vec![json(200, "additions_business_only.json")], &req);
    let report = result.as_ref().unwrap();
    assert!(
        report
            .lines
            .iter()
            .all(|l| l.outcome == LineOutcome::Conflict(vec![]))
    );
    assert_eq!(t.write_count(), 0);
}

#[test]
fn an_invalid_request_sends_nothing() {
    let mut req = request(three_packages(42, 5, 12));
    req.effective_date = "27/11/2026".into();
    let (result, t) = run(vec![], &req);
    assert!(matches!(&result, Err(ConnectorError::InvalidConfig(m)) if m.contains("YYYY-MM-DD")));
    assert!(t.requests.is_empty());
    let mut req = request(vec![line("business", 0, 1)]);
    req.dry_run = true;
    let (result, _) = run(vec![], &req);
    assert!(matches!(&result, Err(ConnectorError::InvalidConfig(m)) if m.contains("product id 0")));
}

#[test]
fn created_additions_start_on_the_start_date_and_cancellations_use_today() {
    // Billing in advance: synced on the 27th, new additions start on the 1st.
    let mut req = request(vec![line("business", BUSINESS, 42)]);
    req.start_date = "2026-12-01".into();
    let (result, t) = run(
        vec![
            json(200, "additions_none.json"),
            json(201, "addition_created_business.json"),
        ],
        &req,
    );
    assert_eq!(result.unwrap().writes, 1);
    assert!(
        t.requests[0]
            .url
            .contains("cancelledDate%3E%5B2026-11-27T00%3A00%3A00Z%5D"),
        "the read filters cancellations on today: {}",
        t.requests[0].url
    );
    let body: serde_json::Value =
        serde_json::from_str(t.requests[1].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["effectiveDate"], "2026-12-01T00:00:00Z");
}

#[test]
fn an_invalid_start_date_sends_nothing() {
    let mut req = request(three_packages(42, 5, 12));
    req.start_date = "2026-12".into();
    let (result, t) = run(vec![], &req);
    assert!(
        matches!(&result, Err(ConnectorError::InvalidConfig(m)) if m.contains("start date") && m.contains("YYYY-MM-DD"))
    );
    assert!(t.requests.is_empty());
}

#[test]
fn an_organization_without_lines_sends_nothing() {
    let (result, t) = run(vec![], &request(vec![]));
    assert_eq!(result.unwrap().requests, 0);
    assert!(t.requests.is_empty());
}
