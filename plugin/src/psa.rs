//! The contract's operations (`seatsync:psa/connector@0.2.0`) over its
//! settings and its PSA-neutral types (`seatsync-contract`), and the
//! conversions between those and the connector's ConnectWise-shaped
//! [`model`].
//!
//! Each operation parses the settings ([`connection::from_settings`]),
//! converts the request, runs the ConnectWise operation of the crate root
//! and converts the answer. The component glue (`bindings`) only converts
//! these types to and from the generated WIT types.
//!
//! What the conversions decide:
//! - ids: the contract's are `s64`; ConnectWise's are positive 32-bit, and
//!   an id that does not fit is refused ([`connectwise_id`]) before anything
//!   is sent;
//! - money and quantities: decimal text, whole numbers without a fraction
//!   (`3`, `4.5`);
//! - days: `YYYY-MM-DD`, cut from ConnectWise's date-times;
//! - line options: `bill-method` and `taxable` ([`options`]), with their
//!   described defaults.

use std::collections::BTreeMap;

use seatsync_contract::{self as contract, Decimal, RecordId, Settings};

use crate::connection::{self, asks_for_codebase_lookup, keys};
use crate::error::ConnectorError;
use crate::http::Transport;
use crate::model::{self, BillCustomer};
use crate::reconcile;

/// The line options the connector describes, and their values.
pub mod options {
    use crate::model::BillCustomer;

    /// How a created addition is billed.
    pub const BILL_METHOD: &str = "bill-method";
    /// Whether a created addition is taxable (`true` or `false`).
    pub const TAXABLE: &str = "taxable";
    /// The values of [`BILL_METHOD`], the default first.
    pub const BILL_METHODS: &[(&str, BillCustomer)] = &[
        ("billable", BillCustomer::Billable),
        ("do-not-bill", BillCustomer::DoNotBill),
        ("no-charge", BillCustomer::NoCharge),
    ];
}

/// `test-connection`: checks the settings, then every read right.
pub fn test_connection<T: Transport>(
    transport: &mut T,
    settings: &Settings,
) -> Result<contract::ConnectionInfo, ConnectorError> {
    let conn = connection::from_settings(settings)?;
    let info = crate::test_connection(transport, &conn)?;
    Ok(connection_info(info, asks_for_codebase_lookup(&conn)))
}

/// `list-products`: every catalog item.
pub fn list_products<T: Transport>(
    transport: &mut T,
    settings: &Settings,
) -> Result<Vec<contract::Product>, ConnectorError> {
    let conn = connection::from_settings(settings)?;
    let products = crate::list_products(transport, &conn)?;
    Ok(products.into_iter().map(product).collect())
}

/// `list-companies`: every company that is not deleted.
pub fn list_companies<T: Transport>(
    transport: &mut T,
    settings: &Settings,
) -> Result<Vec<contract::Company>, ConnectorError> {
    let conn = connection::from_settings(settings)?;
    let companies = crate::list_companies(transport, &conn)?;
    Ok(companies.into_iter().map(company).collect())
}

/// `list-contracts`: every agreement, or one company's.
pub fn list_contracts<T: Transport>(
    transport: &mut T,
    settings: &Settings,
    company_id: Option<RecordId>,
) -> Result<Vec<contract::Contract>, ConnectorError> {
    let conn = connection::from_settings(settings)?;
    let company_id = company_id
        .map(|id| connectwise_id(id, "company"))
        .transpose()?;
    let agreements = crate::list_agreements(transport, &conn, company_id)?;
    Ok(agreements.into_iter().map(contract).collect())
}

/// `sync-organization`: makes the agreement's additions match the counts.
pub fn sync_organization<T: Transport>(
    transport: &mut T,
    settings: &Settings,
    request: &contract::SyncRequest,
) -> Result<contract::SyncReport, ConnectorError> {
    let conn = connection::from_settings(settings)?;
    let request = sync_request(request)?;
    let report = crate::sync_organization(transport, &conn, &request)?;
    Ok(sync_report(report))
}

/// `end-line`: ends one addition of an agreement on `day`, after checking
/// it belongs to the agreement and is still active.
pub fn end_line<T: Transport>(
    transport: &mut T,
    settings: &Settings,
    contract_id: RecordId,
    line_id: RecordId,
    day: &str,
) -> Result<(), ConnectorError> {
    let conn = connection::from_settings(settings)?;
    let agreement = connectwise_id(contract_id, "agreement")?;
    let addition = connectwise_id(line_id, "addition")?;
    crate::end_addition(transport, &conn, agreement, addition, day)
}

/// The ConnectWise id `id` of a `what` (`company`, `agreement`, ...), or
/// `invalid-config` when it does not fit ConnectWise's ids. Zero passes
/// here: the operations refuse it with their own messages, as before.
///
/// `what` is only formatted when the id is refused: a sync checks every
/// line's product id, and a name built for each of them showed in the
/// component's profile.
pub fn connectwise_id(id: RecordId, what: impl std::fmt::Display) -> Result<u32, ConnectorError> {
    u32::try_from(id).map_err(|_| {
        ConnectorError::InvalidConfig(format!(
            "the {what} id {id} is not a ConnectWise id: ConnectWise ids are whole numbers from 1 to {}",
            u32::MAX
        ))
    })
}

/// What `test-connection` learnt, as the contract reports it. With
/// `learned_codebase` (the settings asked for `auto`), the codebase found is
/// returned as a setting to store.
pub fn connection_info(
    info: model::ConnectionInfo,
    learned_codebase: bool,
) -> contract::ConnectionInfo {
    let deployment = if info.is_cloud { "cloud" } else { "on-premise" };
    let mut facts = vec![("deployment".to_string(), deployment.to_string())];
    if !info.server_time_zone.is_empty() {
        facts.push(("time zone".into(), info.server_time_zone));
    }
    if let Some(region) = info.cloud_region {
        facts.push(("region".into(), region));
    }
    facts.push(("codebase".into(), info.codebase.clone()));
    let mut learned_settings = Settings::new();
    if learned_codebase {
        learned_settings.set(keys::CODEBASE, info.codebase);
    }
    contract::ConnectionInfo {
        endpoint: info.api_url,
        psa_version: info.version,
        facts,
        learned_settings,
    }
}

/// A catalog item as a contract product. Bundles cannot be additions.
pub fn product(p: model::Product) -> contract::Product {
    contract::Product {
        id: p.id.into(),
        identifier: p.identifier,
        description: p.description,
        inactive: p.inactive,
        billable_as_line: !p
            .product_class
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("Bundle")),
        price: p.price.map(Decimal::from_f64),
        cost: p.cost.map(Decimal::from_f64),
        taxable: Some(p.taxable),
        kind: p.product_class,
    }
}

/// A ConnectWise company as a contract company; its domain comes from its
/// website ([`domain_of_website`]).
pub fn company(c: model::Company) -> contract::Company {
    contract::Company {
        id: c.id.into(),
        identifier: c.identifier,
        name: c.name,
        status: c.status,
        domain: c.website.as_deref().and_then(domain_of_website),
    }
}

/// The domain of a website as MSPs type it into ConnectWise
/// (`https://www.Contoso.com/`, `contoso.com`, `www.contoso.com:8080/x`):
/// the host, lower-cased, without `www.`; `None` when it has none.
pub fn domain_of_website(website: &str) -> Option<String> {
    let text = website.trim();
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = host.split(':').next().unwrap_or_default();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let valid = host.contains('.')
        && !host.starts_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    valid.then(|| host.to_string())
}

/// An agreement as a contract.
pub fn contract(a: model::Agreement) -> contract::Contract {
    contract::Contract {
        id: a.id.into(),
        name: a.name,
        company_id: a.company_id.into(),
        contract_type: a.agreement_type,
        status: a.status,
        cancelled: a.cancelled,
        start: a.start_date.as_deref().and_then(day_of),
        end: a.end_date.as_deref().and_then(day_of),
    }
}

/// The day of a ConnectWise date-time (`2026-11-27T00:00:00Z`), or `None`
/// when it does not start with one.
fn day_of(date: &str) -> Option<String> {
    date.trim()
        .get(..10)
        .filter(|day| reconcile::is_day(day))
        .map(str::to_string)
}

/// The connector's sync request for a contract one: ids checked, options
/// parsed, `today` as the day for cancellations and `start-date` as the
/// effective date of created additions. Sends nothing.
pub fn sync_request(r: &contract::SyncRequest) -> Result<model::SyncRequest, ConnectorError> {
    let lines = r
        .lines
        .iter()
        .map(|l| {
            let (bill_customer, taxable) = line_options(&l.package_key, &l.options)?;
            Ok(model::SyncLine {
                package_key: l.package_key.clone(),
                product_id: connectwise_id(
                    l.product_id,
                    format_args!("product of package {:?}", l.package_key),
                )?,
                quantity: l.quantity,
                bill_customer,
                taxable,
                description: l.description.clone(),
            })
        })
        .collect::<Result<Vec<_>, ConnectorError>>()?;
    Ok(model::SyncRequest {
        company_id: connectwise_id(r.company_id, "company")?,
        agreement_id: connectwise_id(r.contract_id, "agreement")?,
        lines,
        dry_run: r.dry_run,
        effective_date: r.today.clone(),
        start_date: r.start_date.clone(),
        update_quantities: r.update_quantities,
        create_missing: r.create_missing,
    })
}

/// The bill method and the taxable flag of one mapped package's options:
/// the described defaults for those absent; `invalid-config` naming the
/// package, the option and the values allowed for a value that is not one,
/// or for an option the connector does not describe.
pub fn line_options(
    package_key: &str,
    values: &BTreeMap<String, String>,
) -> Result<(BillCustomer, bool), ConnectorError> {
    let description = crate::description();
    let invalid = |message: String| {
        ConnectorError::InvalidConfig(format!("the package {package_key:?}: {message}"))
    };
    // Every line of every sync passes here: the keys are looked for one by
    // one only when some key is not one of the described options.
    let described = description
        .line_options
        .iter()
        .filter(|o| values.contains_key(&o.key))
        .count();
    if described < values.len()
        && let Some(unknown) = values.keys().find(|k| description.option(k).is_none())
    {
        let known: Vec<&str> = description
            .line_options
            .iter()
            .map(|o| o.key.as_str())
            .collect();
        return Err(invalid(format!(
            "the option '{unknown}' is not an option of this connector: use {}",
            known.join(", ")
        )));
    }
    let value = |key: &str| -> Result<&str, ConnectorError> {
        let option = description
            .option(key)
            .expect("the connector describes its own options");
        let value = values.get(key).unwrap_or(&option.default_value);
        option.check(value).map_err(invalid)?;
        Ok(value)
    };
    let bill_method = value(options::BILL_METHOD)?;
    let bill_customer = options::BILL_METHODS
        .iter()
        .find(|(name, _)| *name == bill_method)
        .map(|(_, bill)| *bill)
        .expect("a checked bill method is one of the described values");
    let taxable = value(options::TAXABLE)? == "true";
    Ok((bill_customer, taxable))
}

/// The connector's report as the contract's: each addition is the line,
/// quantities and unit prices as decimal text.
pub fn sync_report(r: model::SyncReport) -> contract::SyncReport {
    contract::SyncReport {
        company_id: r.company_id.into(),
        contract_id: r.agreement_id.into(),
        dry_run: r.dry_run,
        lines: r
            .lines
            .into_iter()
            .map(|l| contract::LineResult {
                package_key: l.package_key,
                product_id: l.product_id.into(),
                quantity: l.quantity,
                outcome: line_outcome(l.outcome),
                line_id: l.addition_id.map(Into::into),
                unit_price: l.unit_price.map(Decimal::from_f64),
            })
            .collect(),
        requests: r.requests,
        writes: r.writes,
    }
}

fn line_outcome(o: model::LineOutcome) -> contract::LineOutcome {
    match o {
        model::LineOutcome::Created => contract::LineOutcome::Created,
        model::LineOutcome::Updated { previous_quantity } => contract::LineOutcome::Updated {
            previous_quantity: Decimal::from_f64(previous_quantity),
        },
        model::LineOutcome::Unchanged => contract::LineOutcome::Unchanged,
        model::LineOutcome::Conflict(ids) => {
            contract::LineOutcome::Conflict(ids.into_iter().map(Into::into).collect())
        }
        model::LineOutcome::Skipped(reason) => contract::LineOutcome::Skipped(reason),
        model::LineOutcome::Failed(error) => contract::LineOutcome::Failed(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(options: &[(&str, &str)]) -> contract::SyncLine {
        contract::SyncLine {
            package_key: "business".into(),
            product_id: 19,
            quantity: 42,
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            description: None,
        }
    }

    fn request(lines: Vec<contract::SyncLine>) -> contract::SyncRequest {
        contract::SyncRequest {
            company_id: 254,
            contract_id: 102,
            lines,
            dry_run: true,
            today: "2026-11-27".into(),
            start_date: "2026-12-01".into(),
            update_quantities: true,
            create_missing: false,
        }
    }

    fn invalid_message(result: Result<impl std::fmt::Debug, ConnectorError>) -> String {
        match result {
            Err(ConnectorError::InvalidConfig(message)) => message,
            other => panic!("not invalid-config: {other:?}"),
        }
    }

    #[test]
    fn absent_options_take_the_described_defaults() {
        let none = BTreeMap::new();
        assert_eq!(
            line_options("p", &none).unwrap(),
            (BillCustomer::Billable, true)
        );
        let description = crate::describe();
        for option in &description.line_options {
            let only: BTreeMap<String, String> =
                [(option.key.clone(), option.default_value.clone())].into();
            assert_eq!(
                line_options("p", &only).unwrap(),
                (BillCustomer::Billable, true)
            );
        }
    }

    #[test]
    fn each_option_value_maps_to_connectwise() {
        for (value, bill) in [
            ("billable", BillCustomer::Billable),
            ("do-not-bill", BillCustomer::DoNotBill),
            ("no-charge", BillCustomer::NoCharge),
        ] {
            let values: BTreeMap<String, String> = [
                (options::BILL_METHOD.to_string(), value.to_string()),
                (options::TAXABLE.to_string(), "false".to_string()),
            ]
            .into();
            assert_eq!(line_options("p", &values).unwrap(), (bill, false));
        }
    }

    #[test]
    fn a_bad_option_value_names_the_option_and_the_values_allowed() {
        let message = invalid_message(sync_request(&request(vec![line(&[(
            "bill-method",
            "Billable",
        )])])));
        assert_eq!(
            message,
            "the package \"business\": 'Billable' is not a value of option 'bill-method': use one of billable, do-not-bill, no-charge"
        );
        let message = invalid_message(sync_request(&request(vec![line(&[("taxable", "yes")])])));
        assert_eq!(
            message,
            "the package \"business\": option 'taxable' is true or false, not 'yes'"
        );
        let message = invalid_message(sync_request(&request(vec![line(&[("bill", "x")])])));
        assert!(message.contains("'bill' is not an option"), "{message}");
        assert!(message.contains("bill-method, taxable"), "{message}");
    }

    #[test]
    fn the_request_keeps_today_and_the_start_date_apart() {
        let r = sync_request(&request(vec![line(&[("bill-method", "no-charge")])])).unwrap();
        assert_eq!(
            r,
            model::SyncRequest {
                company_id: 254,
                agreement_id: 102,
                lines: vec![model::SyncLine {
                    package_key: "business".into(),
                    product_id: 19,
                    quantity: 42,
                    bill_customer: BillCustomer::NoCharge,
                    taxable: true,
                    description: None,
                }],
                dry_run: true,
                effective_date: "2026-11-27".into(),
                start_date: "2026-12-01".into(),
                update_quantities: true,
                create_missing: false,
            }
        );
    }

    #[test]
    fn ids_that_are_not_connectwise_ids_are_refused() {
        for (id, field) in [(-1, "company"), (1 << 32, "agreement"), (-7, "product")] {
            let mut r = request(vec![line(&[])]);
            match field {
                "company" => r.company_id = id,
                "agreement" => r.contract_id = id,
                _ => r.lines[0].product_id = id,
            }
            let message = invalid_message(sync_request(&r));
            assert!(
                message.contains(&format!("id {id} is not a ConnectWise id")),
                "{message}"
            );
            assert!(message.contains(field), "{message}");
        }
        assert_eq!(connectwise_id(4_294_967_295, "company").unwrap(), u32::MAX);
    }

    #[test]
    fn products_bill_as_lines_unless_bundles_with_decimal_money() {
        let p = |class: Option<&str>, price: Option<f64>| model::Product {
            id: 19,
            identifier: "PPE-BUSINESS".into(),
            description: "Business".into(),
            inactive: false,
            price,
            cost: Some(3.0),
            taxable: false,
            product_class: class.map(String::from),
        };
        let service = product(p(Some("Service"), Some(4.5)));
        assert!(service.billable_as_line);
        assert_eq!(service.price, Some(Decimal("4.5".into())));
        assert_eq!(service.cost, Some(Decimal("3".into())));
        assert_eq!(service.taxable, Some(false));
        assert_eq!(service.kind.as_deref(), Some("Service"));
        assert_eq!(service.id, 19);
        let bundle = product(p(Some("Bundle"), None));
        assert!(!bundle.billable_as_line);
        assert_eq!(bundle.price, None);
        assert!(product(p(None, Some(19.99))).billable_as_line);
        assert_eq!(
            product(p(None, Some(19.99))).price,
            Some(Decimal("19.99".into()))
        );
    }

    #[test]
    fn contracts_carry_days_cut_from_date_times() {
        let c = contract(model::Agreement {
            id: 102,
            name: "Contoso - Managed Services".into(),
            company_id: 254,
            agreement_type: Some("Managed Services".into()),
            status: Some("Active".into()),
            cancelled: false,
            start_date: Some("2022-03-01T00:00:00Z".into()),
            end_date: Some("not a date".into()),
        });
        assert_eq!(
            (c.id, c.company_id, c.contract_type.as_deref()),
            (102, 254, Some("Managed Services"))
        );
        assert_eq!(c.start.as_deref(), Some("2022-03-01"));
        assert_eq!(c.end, None);
    }

    #[test]
    fn websites_become_domains() {
        for (website, domain) in [
            ("https://www.Contoso.com/", Some("contoso.com")),
            ("contoso.com", Some("contoso.com")),
            ("www.fabrikam.co.uk:8080/about?x#y", Some("fabrikam.co.uk")),
            (
                "http://shop.northwind.example",
                Some("shop.northwind.example"),
            ),
            ("  ", None),
            ("n/a", None),
            ("localhost", None),
        ] {
            assert_eq!(domain_of_website(website).as_deref(), domain, "{website}");
        }
        let c = company(model::Company {
            id: 254,
            identifier: "ContosoLtd".into(),
            name: "Contoso Ltd".into(),
            status: Some("Active".into()),
            deleted: false,
            website: Some("www.contoso.com".into()),
        });
        assert_eq!((c.id, c.domain.as_deref()), (254, Some("contoso.com")));
    }

    #[test]
    fn connection_info_reports_facts_and_learns_an_auto_codebase_only() {
        let info = model::ConnectionInfo {
            api_url: "https://api-na.myconnectwise.net/v2025_1/apis/3.0".into(),
            codebase: "v2025_1/".into(),
            version: "v2025.1.10431".into(),
            is_cloud: true,
            server_time_zone: "Pacific Standard Time".into(),
            cloud_region: Some("NA".into()),
        };
        let learnt = connection_info(info.clone(), true);
        assert_eq!(learnt.endpoint, info.api_url);
        assert_eq!(learnt.psa_version, "v2025.1.10431");
        let facts: Vec<(&str, &str)> = learnt
            .facts
            .iter()
            .map(|(l, v)| (l.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            facts,
            [
                ("deployment", "cloud"),
                ("time zone", "Pacific Standard Time"),
                ("region", "NA"),
                ("codebase", "v2025_1/"),
            ]
        );
        assert_eq!(learnt.learned_settings.get("codebase"), Some("v2025_1/"));
        let on_premise = connection_info(
            model::ConnectionInfo {
                is_cloud: false,
                server_time_zone: String::new(),
                cloud_region: None,
                ..info
            },
            false,
        );
        assert_eq!(on_premise.fact("deployment"), Some("on-premise"));
        assert_eq!(on_premise.fact("time zone"), None);
        assert_eq!(on_premise.fact("region"), None);
        assert!(on_premise.learned_settings.is_empty());
    }

    #[test]
    fn reports_use_record_ids_and_decimal_quantities() {
        let report = sync_report(model::SyncReport {
            company_id: 254,
            agreement_id: 102,
            dry_run: false,
            lines: vec![
                model::LineResult {
                    package_key: "business".into(),
                    product_id: 19,
                    quantity: 42,
                    outcome: model::LineOutcome::Updated {
                        previous_quantity: 40.0,
                    },
                    addition_id: Some(15),
                    unit_price: Some(4.5),
                },
                model::LineResult {
                    package_key: "advanced".into(),
                    product_id: 20,
                    quantity: 5,
                    outcome: model::LineOutcome::Conflict(vec![16, 17]),
                    addition_id: None,
                    unit_price: None,
                },
            ],
            requests: 2,
            writes: 1,
        });
        assert_eq!((report.company_id, report.contract_id), (254, 102));
        assert_eq!(
            report.lines[0].outcome,
            contract::LineOutcome::Updated {
                previous_quantity: Decimal("40".into())
            }
        );
        assert_eq!(
            (report.lines[0].line_id, &report.lines[0].unit_price),
            (Some(15), &Some(Decimal("4.5".into())))
        );
        assert_eq!(
            report.lines[1].outcome,
            contract::LineOutcome::Conflict(vec![16, 17])
        );
        assert_eq!((report.requests, report.writes), (2, 1));
    }
}
