//! A generated tenant for the benchmark (and the network tests, which
//! include this file): N organizations, each a company with one agreement,
//! and a catalog of the three products their three packages map to.

#![allow(dead_code)]

use std::collections::BTreeMap;

use seatsync_fixtures::Tenant;
use seatsync_fixtures::tenant::files;
use seatsync_host::store::{OrgMapping, PackageMapping, Store, StoredConnection};
use seatsync_host::usage::{Usage, UsageFormat, parse_usage};
use seatsync_plugin::model::{BillCustomer, Connection, SyncLine, SyncRequest};
use serde_json::{Value, json};

/// The packages: key, catalog id, identifier.
pub const PACKAGES: [(&str, u32, &str); 3] = [
    ("basic", 1, "SEAT-BASIC"),
    ("pro", 2, "SEAT-PRO"),
    ("enterprise", 3, "SEAT-ENTERPRISE"),
];

/// The simulator's "now" and the sync's effective date.
pub const DAY: &str = "2026-01-15";

/// Organization `i`'s company.
pub fn company_id(i: usize) -> u32 {
    10_000 + i as u32
}

/// Organization `i`'s agreement.
pub fn agreement_id(i: usize) -> u32 {
    100_000 + i as u32
}

/// Organization `i`'s vendor id.
pub fn org_id(i: usize) -> String {
    format!("org-{i:06}")
}

/// The count of package `p` for organization `i`; `changed` raises every
/// tenth count (by row) by one.
pub fn count(i: usize, p: usize, changed: bool) -> u32 {
    let base = 5 + ((i * 7 + p * 13) % 60) as u32;
    if changed && is_changed(i, p) {
        base + 1
    } else {
        base
    }
}

/// Whether row (i, p) is among the tenth that [`count`] changes.
pub fn is_changed(i: usize, p: usize) -> bool {
    (i * PACKAGES.len() + p).is_multiple_of(10)
}

/// Rows [`count`] changes among `orgs` organizations.
pub fn changed_rows(orgs: usize) -> usize {
    (0..orgs)
        .flat_map(|i| (0..PACKAGES.len()).map(move |p| (i, p)))
        .filter(|&(i, p)| is_changed(i, p))
        .count()
}

/// A tenant with `orgs` companies and agreements (no additions yet) and
/// the three products.
pub fn tenant(orgs: usize) -> Tenant {
    let catalog = PACKAGES
        .iter()
        .map(|(key, id, identifier)| {
            json!({
                "id": id, "identifier": identifier,
                "description": format!("Seats - {key} (per user)"),
                "inactiveFlag": false, "productClass": "Agreement",
                "price": 4.5, "cost": 2.0, "taxableFlag": true,
                "unitOfMeasure": {"id": 7, "name": "User"},
                "category": {"id": 9, "name": "Licensing"},
            })
        })
        .collect();
    let companies = (0..orgs)
        .map(|i| {
            json!({
                "id": company_id(i), "identifier": format!("Customer{i:06}"),
                "name": format!("Customer {i:06}"), "deletedFlag": false,
                "status": {"id": 1, "name": "Active"},
            })
        })
        .collect();
    let agreements = (0..orgs)
        .map(|i| {
            json!({
                "id": agreement_id(i), "name": format!("Managed seats {i:06}"),
                "type": {"id": 3, "name": "Managed Services"},
                "company": {"id": company_id(i), "identifier": format!("Customer{i:06}"),
                            "name": format!("Customer {i:06}")},
                "agreementStatus": "Active", "cancelledFlag": false,
                "startDate": "2025-01-01T00:00:00Z",
            })
        })
        .collect();
    Tenant {
        system_info: serde_json::from_str(files::SYSTEM_INFO).expect("demo file"),
        company_info: serde_json::from_str(files::COMPANY_INFO).expect("demo file"),
        catalog,
        companies,
        agreements,
        additions: BTreeMap::<u32, Vec<Value>>::new(),
    }
}

/// The usage export of `orgs` organizations, three packages each.
pub fn usage(orgs: usize, changed: bool) -> Usage {
    let mut csv = String::from("org_id,org_name,package,active_users\n");
    for i in 0..orgs {
        for (p, (key, _, _)) in PACKAGES.iter().enumerate() {
            csv.push_str(&format!(
                "{},Customer {i:06},{key},{}\n",
                org_id(i),
                count(i, p, changed)
            ));
        }
    }
    parse_usage(csv.as_bytes(), Some(UsageFormat::Csv)).expect("generated usage is valid")
}

/// The connector request for organization `i`, as the store builds it.
pub fn request(i: usize, changed: bool) -> SyncRequest {
    SyncRequest {
        company_id: company_id(i),
        agreement_id: agreement_id(i),
        lines: PACKAGES
            .iter()
            .enumerate()
            .map(|(p, (key, product, _))| SyncLine {
                package_key: key.to_string(),
                product_id: *product,
                quantity: count(i, p, changed),
                bill_customer: BillCustomer::Billable,
                taxable: true,
                description: None,
            })
            .collect(),
        dry_run: false,
        effective_date: DAY.into(),
        update_quantities: true,
        create_missing: true,
    }
}

/// The simulator's demo credentials for `site` (`http://127.0.0.1:PORT`),
/// with the codebase known, so a call needs no lookup.
pub fn connection(site: &str) -> Connection {
    Connection {
        site: site.to_string(),
        company_id: seatsync_fixtures::DEMO_COMPANY_ID.into(),
        public_key: seatsync_fixtures::DEMO_PUBLIC_KEY.into(),
        private_key: seatsync_fixtures::DEMO_PRIVATE_KEY.into(),
        client_id: seatsync_fixtures::DEMO_CLIENT_ID.into(),
        codebase: Some("v4_6_release/".into()),
    }
}

/// Stores what `connect`, `usage import` and `map` would for `tenant`: the
/// connection to `site`, the usage of `orgs` organizations ([`usage`]), the
/// three packages and every organization mapped.
pub fn store_tenant(store: &Store, tenant: &str, site: &str, orgs: usize) {
    store
        .save_connection(tenant, &StoredConnection::new(connection(site), true, None))
        .expect("connection");
    store
        .replace_usage(tenant, &usage(orgs, false))
        .expect("usage");
    for (key, product, identifier) in PACKAGES {
        store
            .upsert_package_mapping(
                tenant,
                key,
                &PackageMapping {
                    product_id: product,
                    product_identifier: Some(identifier.into()),
                    product_description: None,
                    bill_method: BillCustomer::Billable,
                    taxable: true,
                },
            )
            .expect("package mapping");
    }
    for i in 0..orgs {
        store
            .upsert_org_mapping(
                tenant,
                &org_id(i),
                &OrgMapping {
                    company_id: company_id(i),
                    agreement_id: agreement_id(i),
                    company_name: None,
                    agreement_name: None,
                },
            )
            .expect("org mapping");
    }
}
