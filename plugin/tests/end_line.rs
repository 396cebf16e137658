//! `end-line`: one addition ended by a PATCH of its `cancelledDate`, and
//! only one that belongs to the agreement and is still active.

mod support;

use insta::assert_snapshot;
use seatsync_contract::Settings;
use seatsync_plugin::error::ConnectorError;
use seatsync_plugin::psa;
use serde_json::json;
use support::*;

/// The settings of [`cloud_connection`], as a host passes them.
fn cloud_settings() -> Settings {
    let c = cloud_connection();
    [
        ("site", c.site),
        ("company-id", c.company_id),
        ("public-key", c.public_key),
        ("private-key", c.private_key),
        ("client-id", c.client_id),
    ]
    .into_iter()
    .collect()
}

/// Addition 16 of agreement 102 (product 20, 8 users), as the check reads
/// it, with `cancelled` as its cancelled date.
fn addition_16(cancelled: Option<&str>) -> Reply {
    json_body(
        200,
        json!({
            "id": 16,
            "product": {"id": 20},
            "quantity": 8.0,
            "effectiveDate": "2026-11-20T00:00:00Z",
            "cancelledDate": cancelled,
        }),
        "addition 16",
    )
}

/// What ConnectWise answers to the PATCH: the whole addition, with
/// `cancelled` as its cancelled date.
fn patched_16(cancelled: Option<&str>) -> Reply {
    json_body(
        200,
        json!({
            "id": 16,
            "product": {"id": 20, "identifier": "PPE-ADVANCED"},
            "quantity": 8.0,
            "billCustomer": "Billable",
            "effectiveDate": "2026-11-20T00:00:00Z",
            "cancelledDate": cancelled,
            "agreementId": 102,
        }),
        "addition 16 patched",
    )
}

fn end(
    replies: Vec<Reply>,
    contract: i64,
    line: i64,
    day: &str,
) -> (Result<(), ConnectorError>, Scripted) {
    let mut t = Scripted::new(replies);
    let result = psa::end_line(&mut t, &cloud_settings(), contract, line, day);
    (result, t)
}

#[test]
fn an_active_addition_is_read_then_ended_by_its_cancelled_date() {
    let (result, t) = end(
        vec![addition_16(None), patched_16(Some("2026-11-27T00:00:00Z"))],
        102,
        16,
        "2026-11-27",
    );
    assert_eq!(result, Ok(()));
    assert_eq!((t.requests.len(), t.write_count()), (2, 1));
    assert_snapshot!(t.finish(&result));
}

/// ConnectWise answers 404 for an addition of another agreement (the path
/// names the agreement): nothing is written.
#[test]
fn an_addition_of_another_agreement_is_not_touched() {
    let (result, t) = end(vec![json(404, "error_404.json")], 105, 16, "2026-11-27");
    let Err(ConnectorError::NotFound(message)) = &result else {
        panic!("not not-found: {result:?}");
    };
    assert!(
        message.starts_with("agreement 105 has no addition 16: it belongs to another agreement or was deleted, so nothing was changed"),
        "{message}"
    );
    assert_eq!((t.requests.len(), t.write_count()), (1, 0));
    assert_snapshot!(t.finish(&result));
}

#[test]
fn an_addition_that_already_ended_is_not_touched() {
    for ended in ["2026-11-01T00:00:00Z", "2026-11-27T00:00:00Z"] {
        let (result, t) = end(vec![addition_16(Some(ended))], 102, 16, "2026-11-27");
        assert_eq!(
            result,
            Err(ConnectorError::NotFound(format!(
                "addition 16 of agreement 102 is no longer active: it ended on {}, so nothing was changed",
                &ended[..10]
            )))
        );
        assert_eq!(t.write_count(), 0, "{ended}");
        t.finish(&result);
    }
}

/// An addition whose end is still ahead bills until then: it is active, and
/// ending it earlier is allowed.
#[test]
fn an_addition_ending_later_is_ended_earlier() {
    let (result, t) = end(
        vec![
            addition_16(Some("2026-12-31T00:00:00Z")),
            patched_16(Some("2026-11-27T00:00:00Z")),
        ],
        102,
        16,
        "2026-11-27",
    );
    assert_eq!(result, Ok(()));
    assert_eq!(t.write_count(), 1);
    t.finish(&result);
}

/// A PATCH can answer 200 and change nothing (a "false 200"): reported,
/// not taken for done.
#[test]
fn an_end_that_did_not_take_is_reported() {
    let (result, t) = end(
        vec![addition_16(None), patched_16(None)],
        102,
        16,
        "2026-11-27",
    );
    assert_eq!(
        result,
        Err(ConnectorError::InvalidResponse(
            "ConnectWise accepted the end of addition 16 of agreement 102 on 2026-11-27 but reports the \
             cancelled date (none); check the addition in ConnectWise"
                .into()
        ))
    );
    assert_snapshot!(t.finish(&result));
}

/// Ending is idempotent: a 503 on the PATCH is retried like a quantity's.
#[test]
fn a_gateway_error_on_the_end_is_retried() {
    let (result, t) = end(
        vec![
            addition_16(None),
            raw(503, "text/html", "service_unavailable.html"),
            patched_16(Some("2026-11-27T00:00:00Z")),
        ],
        102,
        16,
        "2026-11-27",
    );
    assert_eq!(result, Ok(()));
    assert_eq!(t.write_count(), 2, "the PATCH, twice");
    t.finish(&result);
}

#[test]
fn a_bad_day_or_id_sends_nothing() {
    for (contract, line, day, expected) in [
        (
            102,
            16,
            "27/11/2026",
            "the day \"27/11/2026\" is not a day: use YYYY-MM-DD",
        ),
        (
            102,
            -16,
            "2026-11-27",
            "the addition id -16 is not a ConnectWise id",
        ),
        (
            5_000_000_000,
            16,
            "2026-11-27",
            "the agreement id 5000000000 is not a ConnectWise id",
        ),
        (
            102,
            0,
            "2026-11-27",
            "the agreement and addition ids must be ConnectWise ids",
        ),
    ] {
        let (result, t) = end(Vec::new(), contract, line, day);
        match &result {
            Err(ConnectorError::InvalidConfig(m)) => assert!(m.starts_with(expected), "{m}"),
            other => panic!("not invalid-config: {other:?}"),
        }
        assert!(t.requests.is_empty());
        t.finish(&result);
    }
}
