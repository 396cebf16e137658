//! A generated tenant for the benchmark (and the network tests, which
//! include this file): N organizations, each a company with one agreement,
//! and a catalog of the three products their three packages map to. Also
//! the native baseline: the ConnectWise connector's logic built for the
//! host, over the host's own transport ([`native_sync_organization`]).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use seatsync_contract::{ConnectorError, Settings, SyncLine, SyncRequest};
use seatsync_fixtures::Tenant;
use seatsync_fixtures::tenant::files;
use seatsync_host::runtime::{
    Call, CallFailed, HostRequest, HostSendError, HostTransport, LogLevel, NetworkPolicy, Runtime,
    RuntimeError,
};
use seatsync_host::store::{OrgMapping, PackageMapping, Store, StoredConnection};
use seatsync_host::usage::{Usage, UsageFormat, parse_usage};
use seatsync_plugin::http::{Level, Request, Response, Transport, TransportError};
use seatsync_plugin::model as native;
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
pub fn company_id(i: usize) -> i64 {
    10_000 + i as i64
}

/// Organization `i`'s agreement.
pub fn agreement_id(i: usize) -> i64 {
    100_000 + i as i64
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
    usage_of(0..orgs, changed)
}

/// The usage export of organizations `range`, three packages each.
pub fn usage_of(range: std::ops::Range<usize>, changed: bool) -> Usage {
    let mut csv = String::from("org_id,org_name,package,active_users\n");
    for i in range {
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
        contract_id: agreement_id(i),
        lines: PACKAGES
            .iter()
            .enumerate()
            .map(|(p, (key, product, _))| SyncLine {
                package_key: key.to_string(),
                product_id: i64::from(*product),
                quantity: count(i, p, changed),
                options: options(),
                description: None,
            })
            .collect(),
        dry_run: false,
        today: DAY.into(),
        start_date: DAY.into(),
        update_quantities: true,
        create_missing: true,
    }
}

/// The packages' options: billable, taxable.
fn options() -> BTreeMap<String, String> {
    [("bill-method", "billable"), ("taxable", "true")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The simulator's demo credentials for `site` (`http://127.0.0.1:PORT`),
/// with the codebase known, so a call needs no lookup.
pub fn connection(site: &str) -> Settings {
    [
        ("site", site),
        ("company-id", seatsync_fixtures::DEMO_COMPANY_ID),
        ("public-key", seatsync_fixtures::DEMO_PUBLIC_KEY),
        ("private-key", seatsync_fixtures::DEMO_PRIVATE_KEY),
        ("client-id", seatsync_fixtures::DEMO_CLIENT_ID),
        ("codebase", "v4_6_release/"),
    ]
    .into_iter()
    .collect()
}

/// The network policy the runtime's connector plans for `site` (plain http
/// allowed: the simulator is on loopback).
pub async fn policy(runtime: &Runtime, site: &str) -> NetworkPolicy {
    let plan = runtime
        .plan_network(&connection(site))
        .await
        .expect("the plan call runs")
        .value
        .expect("the demo settings are usable");
    NetworkPolicy::from_plan(&plan, true).expect("the plan is allowed")
}

/// `request` for the connector's logic built natively.
fn native_request(request: &SyncRequest) -> native::SyncRequest {
    native::SyncRequest {
        company_id: request.company_id as u32,
        agreement_id: request.contract_id as u32,
        lines: request
            .lines
            .iter()
            .map(|l| native::SyncLine {
                package_key: l.package_key.clone(),
                product_id: l.product_id as u32,
                quantity: l.quantity,
                bill_customer: native::BillCustomer::Billable,
                taxable: true,
                description: None,
            })
            .collect(),
        dry_run: request.dry_run,
        effective_date: request.today.clone(),
        start_date: request.start_date.clone(),
        update_quantities: request.update_quantities,
        create_missing: request.create_missing,
    }
}

/// The demo connection for the connector's logic built natively.
fn native_connection(settings: &Settings) -> native::Connection {
    let get = |k: &str| settings.get(k).unwrap_or_default().to_string();
    native::Connection {
        site: get("site"),
        company_id: get("company-id"),
        public_key: get("public-key"),
        private_key: get("private-key"),
        client_id: get("client-id"),
        codebase: settings.get("codebase").map(str::to_string),
    }
}

/// The connector's [`Transport`] over the host's [`HostTransport`].
struct Native(HostTransport);

impl Transport for Native {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        let request = HostRequest {
            method: request.method.as_str().to_string(),
            url: request.url.clone(),
            headers: request
                .headers
                .iter()
                .map(|h| (h.name.clone(), h.wire_value().to_string()))
                .collect(),
            body: request.body.clone().map(String::into_bytes),
        };
        match self.0.send(&request) {
            Ok(r) => Ok(Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(HostSendError::Refused(m)) => Err(TransportError::refused(m)),
            Err(HostSendError::Failed(m)) => Err(TransportError::retryable(m)),
        }
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.0.log(level, message);
    }
}

/// `sync-organization` run natively: the ConnectWise connector's logic
/// built for the host, on a blocking thread, through `runtime`'s sender.
/// The same work as [`Runtime::sync_organization`] without the sandbox,
/// for measuring what the sandbox costs. (Its report stays in the
/// connector's own types: only its counts are compared.)
pub async fn native_sync_organization(
    runtime: &Runtime,
    policy: &NetworkPolicy,
    settings: &Settings,
    request: &SyncRequest,
) -> Result<Call<Result<native::SyncReport, ConnectorError>>, CallFailed> {
    let transport = HostTransport::new(
        runtime,
        policy,
        policy.secrets.clone(),
        tokio::runtime::Handle::current(),
    )?;
    let (conn, request) = (native_connection(settings), native_request(request));
    tokio::task::spawn_blocking(move || {
        let mut native = Native(transport);
        let value = seatsync_plugin::sync_organization(&mut native, &conn, &request);
        native.0.into_call(value)
    })
    .await
    .map_err(|e| RuntimeError::Trap(format!("the native connector failed: {e}")).into())
}

/// Stores what `connect`, `usage import` and `map` would for `tenant`: the
/// connection to `site`, the usage of `orgs` organizations ([`usage`]), the
/// three packages and every organization mapped.
pub fn store_tenant(store: &Store, tenant: &str, site: &str, orgs: usize) {
    store_tenant_of(store, tenant, connection(site), 0..orgs);
}

/// [`store_tenant`] with the connection `settings` and the organizations
/// `range` of the site's generated tenant (several seatsync tenants
/// sharing one site, each with its own organizations).
pub fn store_tenant_of(
    store: &Store,
    tenant: &str,
    settings: Settings,
    range: std::ops::Range<usize>,
) {
    store
        .save_connection(
            tenant,
            &StoredConnection::new(settings, ["private-key".to_string()], true, None),
        )
        .expect("connection");
    store
        .replace_usage(tenant, &usage_of(range.clone(), false))
        .expect("usage");
    for (key, product, identifier) in PACKAGES {
        store
            .upsert_package_mapping(
                tenant,
                key,
                &PackageMapping {
                    product_id: i64::from(product),
                    product_identifier: Some(identifier.into()),
                    product_description: None,
                    options: options(),
                },
            )
            .expect("package mapping");
    }
    for i in range {
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
