//! The contract's operations (`seatsync_plugin::psa`): settings in, the
//! contract's PSA-neutral types out, over the same scripted ConnectWise.

mod support;

use seatsync_contract::{Decimal, LineOutcome, Settings, SyncLine, SyncRequest};
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

fn tenant_json(file: &str) -> Reply {
    let body = fixture(&format!("tenant/{file}"));
    json_body(200, serde_json::from_str(&body).unwrap(), file)
}

fn rights_granted() -> Vec<Reply> {
    vec![
        json_body(200, json!([{"id": 19}]), "one catalog id"),
        json_body(200, json!([{"id": 254}]), "one company id"),
        json_body(200, json!([{"id": 102}]), "one agreement id"),
        json_body(200, json!([{"id": 15}]), "one addition id"),
    ]
}

#[test]
fn test_connection_reports_facts_and_learns_an_auto_codebase() {
    let mut settings = cloud_settings();
    settings.set("codebase", "auto");
    let mut replies = vec![
        tenant_json("company_info.json"),
        tenant_json("system_info.json"),
    ];
    replies.extend(rights_granted());
    let mut t = Scripted::new(replies);
    let info = psa::test_connection(&mut t, &settings).unwrap();
    t.finish(&info);
    assert_eq!(
        info.endpoint,
        "https://api-na.myconnectwise.net/v2025_1/apis/3.0"
    );
    assert_eq!(info.psa_version, "v2025.1.10431");
    assert_eq!(
        info.facts,
        [
            ("deployment".to_string(), "cloud".to_string()),
            ("time zone".into(), "Pacific Standard Time".into()),
            ("region".into(), "NA".into()),
            ("codebase".into(), "v2025_1/".into()),
        ]
    );
    assert_eq!(info.learned_settings.get("codebase"), Some("v2025_1/"));
    assert_eq!(info.learned_settings.keys().count(), 1);
}

#[test]
fn test_connection_with_a_given_codebase_learns_nothing() {
    let mut replies = vec![tenant_json("system_info.json")];
    replies.extend(rights_granted());
    let mut t = Scripted::new(replies);
    let info = psa::test_connection(&mut t, &cloud_settings()).unwrap();
    t.finish(&info);
    assert_eq!(info.fact("codebase"), Some("v4_6_release/"));
    assert!(info.learned_settings.is_empty());
}

#[test]
fn a_missing_setting_sends_nothing() {
    for key in [
        "site",
        "company-id",
        "public-key",
        "private-key",
        "client-id",
    ] {
        let mut settings = cloud_settings();
        settings.remove(key);
        let mut t = Scripted::new([]);
        let err = psa::list_products(&mut t, &settings).unwrap_err();
        assert!(
            matches!(&err, ConnectorError::InvalidConfig(m) if m.contains(&format!("'{key}' is missing"))),
            "{key}: {err}"
        );
        assert!(t.requests.is_empty(), "{key}");
    }
}

#[test]
fn products_are_billable_unless_bundles_with_decimal_prices() {
    let mut t = Scripted::new([json_body(
        200,
        json!([
            {"id": 19, "identifier": "PPE-BUSINESS", "description": "Business", "price": 3.5, "cost": 2.0, "taxableFlag": true, "productClass": "Service"},
            {"id": 30, "identifier": "BUNDLE", "description": "A bundle", "price": 10.0, "productClass": "Bundle"},
        ]),
        "two catalog items",
    )]);
    let products = psa::list_products(&mut t, &cloud_settings()).unwrap();
    t.finish(&products);
    let business = &products[0];
    assert_eq!(
        (business.id, business.billable_as_line, business.taxable),
        (19, true, Some(true))
    );
    assert_eq!(
        (&business.price, &business.cost),
        (&Some(Decimal("3.5".into())), &Some(Decimal("2".into())))
    );
    assert_eq!(business.kind.as_deref(), Some("Service"));
    let bundle = &products[1];
    assert!(!bundle.billable_as_line);
    assert_eq!(bundle.price, Some(Decimal("10".into())));
    assert_eq!(bundle.taxable, Some(false));
}

#[test]
fn companies_take_their_domain_from_the_website() {
    let mut t = Scripted::new([json_body(
        200,
        json!([
            {"id": 254, "identifier": "ContosoLtd", "name": "Contoso Ltd", "status": {"id": 1, "name": "Active"}, "website": "https://www.contoso.com/"},
            {"id": 256, "identifier": "Fabrikam", "name": "Fabrikam Inc", "website": null},
            {"id": 259, "identifier": "Northwind", "name": "Northwind Traders", "website": 7},
        ]),
        "three companies",
    )]);
    let companies = psa::list_companies(&mut t, &cloud_settings()).unwrap();
    assert!(t.requests[0].url.contains("website"), "website is read");
    t.finish(&companies);
    let domains: Vec<(i64, Option<&str>)> = companies
        .iter()
        .map(|c| (c.id, c.domain.as_deref()))
        .collect();
    assert_eq!(
        domains,
        [(254, Some("contoso.com")), (256, None), (259, None)]
    );
    assert_eq!(companies[0].status.as_deref(), Some("Active"));
}

#[test]
fn contracts_are_agreements_with_days() {
    let mut t = Scripted::new([json(200, "agreements_company_254.json")]);
    let contracts = psa::list_contracts(&mut t, &cloud_settings(), Some(254)).unwrap();
    assert!(t.requests[0].url.contains("company%2Fid%3D254"));
    t.finish(&contracts);
    let summary: Vec<_> = contracts
        .iter()
        .map(|c| {
            (
                c.id,
                c.company_id,
                c.contract_type.as_deref(),
                c.cancelled,
                c.start.as_deref(),
                c.end.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                102,
                254,
                Some("Managed Services"),
                false,
                Some("2022-03-01"),
                None
            ),
            (
                103,
                254,
                Some("Block Time"),
                true,
                Some("2023-01-01"),
                Some("2023-12-31")
            ),
            (
                148,
                254,
                Some("Managed Services"),
                false,
                Some("2025-07-01"),
                None
            ),
        ]
    );
}

#[test]
fn a_company_id_that_is_not_a_connectwise_id_sends_nothing() {
    for id in [-254, 1 << 40] {
        let mut t = Scripted::new([]);
        let err = psa::list_contracts(&mut t, &cloud_settings(), Some(id)).unwrap_err();
        assert_eq!(
            err,
            ConnectorError::InvalidConfig(format!(
                "the company id {id} is not a ConnectWise id: ConnectWise ids are whole numbers from 1 to 4294967295"
            ))
        );
        assert!(t.requests.is_empty());
    }
}

fn sync_request(options: &[(&str, &str)]) -> SyncRequest {
    SyncRequest {
        company_id: 254,
        contract_id: 102,
        lines: vec![SyncLine {
            package_key: "business".into(),
            product_id: 19,
            quantity: 42,
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            description: None,
        }],
        dry_run: false,
        today: "2026-11-27".into(),
        start_date: "2026-12-01".into(),
        update_quantities: true,
        create_missing: true,
    }
}

#[test]
fn a_sync_creates_with_the_options_and_the_start_date() {
    let mut t = Scripted::new([
        json(200, "additions_none.json"),
        json(201, "addition_created_business.json"),
    ]);
    let request = sync_request(&[("bill-method", "do-not-bill"), ("taxable", "false")]);
    let report = psa::sync_organization(&mut t, &cloud_settings(), &request).unwrap();
    let body: serde_json::Value =
        serde_json::from_str(t.requests[1].body.as_deref().unwrap()).unwrap();
    t.finish(&report);
    assert_eq!(body["billCustomer"], "DoNotBill");
    assert_eq!(body["taxableFlag"], false);
    assert_eq!(body["effectiveDate"], "2026-12-01T00:00:00Z");
    assert_eq!((report.company_id, report.contract_id), (254, 102));
    assert_eq!(report.lines[0].outcome, LineOutcome::Created);
    assert_eq!(report.lines[0].line_id, Some(9001));
    assert_eq!(report.lines[0].unit_price, None);
    assert_eq!((report.requests, report.writes), (2, 1));
}

#[test]
fn a_sync_without_options_creates_billable_taxable_additions() {
    let mut t = Scripted::new([
        json(200, "additions_none.json"),
        json(201, "addition_created_business.json"),
    ]);
    let report = psa::sync_organization(&mut t, &cloud_settings(), &sync_request(&[])).unwrap();
    let body: serde_json::Value =
        serde_json::from_str(t.requests[1].body.as_deref().unwrap()).unwrap();
    t.finish(&report);
    assert_eq!(body["billCustomer"], "Billable");
    assert_eq!(body["taxableFlag"], true);
}

#[test]
fn an_update_reports_the_previous_quantity_as_a_decimal() {
    let mut t = Scripted::new([json(200, "additions_business_only.json")]);
    let mut request = sync_request(&[]);
    request.dry_run = true;
    request.lines[0].quantity = 1;
    let report = psa::sync_organization(&mut t, &cloud_settings(), &request).unwrap();
    t.finish(&report);
    assert_eq!(
        report.lines[0].outcome,
        LineOutcome::Updated {
            previous_quantity: Decimal("42".into())
        },
        "ConnectWise's 42.0, without the fraction"
    );
    assert_eq!(report.lines[0].line_id, Some(15));
    assert_eq!(report.writes, 0);
}

#[test]
fn a_bad_option_value_sends_nothing() {
    let mut t = Scripted::new([]);
    let err = psa::sync_organization(
        &mut t,
        &cloud_settings(),
        &sync_request(&[("bill-method", "free")]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::InvalidConfig(
            "the package \"business\": 'free' is not a value of option 'bill-method': use one of billable, do-not-bill, no-charge".into()
        )
    );
    assert!(t.requests.is_empty());
}
