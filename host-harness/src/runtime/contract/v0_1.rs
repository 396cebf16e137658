//! Contract 0.1 (`wit/since_v0.1.0`, frozen): its bindings, the conversions
//! to the latest contract types, and what a host must supply for a 0.1
//! component that 0.2 lets a connector say itself.
//!
//! The 0.1 contract was written for ConnectWise: its `connection` record is
//! ConnectWise's credentials, its ids are 32-bit, its lines carry
//! ConnectWise's bill method. A 0.1 component can neither describe itself
//! nor plan its network, so this module does both from what the 0.1
//! contract's own comments specify: the settings are the `connection`
//! record's fields; a bare site means https; a cloud site
//! (`*.myconnectwise.net`, `*.connectwisedev.com`) is reached through its
//! `api-` host; and the connector authenticates with Basic auth of
//! `companyId+publicKey:privateKey`, which the host must redact. Nothing
//! outside this module knows any of it: a 0.2 component answers these
//! questions itself (`describe`, `plan-network`).

use base64::Engine as _;
use seatsync_contract::{
    Company, ConnectionInfo, ConnectorDescription, ConnectorError, Contract, Decimal, Endpoint,
    LineOutcome, LineResult, NetworkPlan, OptionDescription, OptionKind, Product,
    SettingDescription, Settings, SyncReport, SyncRequest,
};
use wasmtime::Store;

use super::{Op, Output};
use crate::runtime::sandbox::{CallState, LogLevel};

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "connectwise-plugin",
    // Exports are called with `call_async`; the one import (`log.emit`) is a
    // plain, non-blocking host function.
    exports: { default: async },
});

use exports::seatsync::psa::connector::Guest;
use seatsync::psa::types as wit;

/// The settings a 0.1 connection is made of: its `connection` record's
/// fields, under the keys 0.2's ConnectWise connector uses too.
const SITE: &str = "site";
const COMPANY_ID: &str = "company-id";
const PUBLIC_KEY: &str = "public-key";
const PRIVATE_KEY: &str = "private-key";
const CLIENT_ID: &str = "client-id";
const CODEBASE: &str = "codebase";

/// The options a 0.1 line carries: its `bill-customer` and `taxable`.
const BILL_METHOD: &str = "bill-method";
const TAXABLE: &str = "taxable";
const BILL_METHODS: [&str; 3] = ["billable", "do-not-bill", "no-charge"];

/// Host suffixes the 0.1 contract names as cloud sites.
const CLOUD_SUFFIXES: [&str; 2] = [".myconnectwise.net", ".connectwisedev.com"];

/// The description a 0.1 component cannot give.
pub(crate) fn describe() -> ConnectorDescription {
    let setting =
        |key: &str, label: &str, help: &str, secret: bool, required: bool| SettingDescription {
            key: key.into(),
            label: label.into(),
            help: help.into(),
            secret,
            required,
            default_value: None,
        };
    ConnectorDescription {
        name: "seatsync:psa 0.1 connector".into(),
        version: "0.1".into(),
        psa: "ConnectWise Manage".into(),
        line_noun: "agreement addition".into(),
        contract_noun: "agreement".into(),
        settings: vec![
            setting(
                SITE,
                "Site",
                "the ConnectWise host (cloud hosts get the api- prefix), or an http(s):// URL",
                false,
                true,
            ),
            setting(
                COMPANY_ID,
                "Company id",
                "the company id typed on the ConnectWise login screen",
                false,
                true,
            ),
            setting(
                PUBLIC_KEY,
                "Public key",
                "the API member's public key",
                false,
                true,
            ),
            setting(
                PRIVATE_KEY,
                "Private key",
                "the API member's private key",
                true,
                true,
            ),
            setting(
                CLIENT_ID,
                "Client id",
                "the integration's clientId from the ConnectWise developer network",
                false,
                true,
            ),
            setting(
                CODEBASE,
                "Codebase",
                "the API codebase (e.g. v2025_1), or auto to look it up; default v4_6_release",
                false,
                false,
            ),
        ],
        line_options: vec![
            OptionDescription {
                key: BILL_METHOD.into(),
                label: "Bill method".into(),
                help: "how a created addition is billed".into(),
                kind: OptionKind::Choice(BILL_METHODS.iter().map(|m| m.to_string()).collect()),
                default_value: BILL_METHODS[0].into(),
            },
            OptionDescription {
                key: TAXABLE.into(),
                label: "Taxable".into(),
                help: "whether a created addition is taxable".into(),
                kind: OptionKind::Flag,
                default_value: "true".into(),
            },
        ],
    }
}

/// What the host answers for a 0.1 component; `None` when it must be
/// called.
pub(super) fn answered_by_host(settings: &Settings, op: &Op<'_>) -> Option<Output> {
    match op {
        Op::Describe => Some(Output::Description(describe())),
        Op::PlanNetwork => Some(Output::Plan(plan_network(settings))),
        _ => None,
    }
}

/// The endpoint the 0.1 contract's site rules give, and the Basic
/// credentials the connector will send.
pub(crate) fn plan_network(settings: &Settings) -> Result<NetworkPlan, ConnectorError> {
    let site = settings.get(SITE).unwrap_or_default().trim();
    let invalid = |m: String| ConnectorError::InvalidConfig(m);
    if site.is_empty() {
        return Err(invalid(
            "the site is empty: enter your ConnectWise host, e.g. na.myconnectwise.net".into(),
        ));
    }
    let (scheme, rest) = match site.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("https") => ("https", rest),
        Some((s, rest)) if s.eq_ignore_ascii_case("http") => ("http", rest),
        Some((s, _)) => {
            return Err(invalid(format!(
                "the site {site:?} has the scheme {s:?}: use https://your-host or just the host"
            )));
        }
        None => ("https", site),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest).to_ascii_lowercase();
    if authority.contains(['/', '?', '#']) {
        return Err(invalid(format!(
            "the site {site:?} has a path: enter only the host, e.g. na.myconnectwise.net"
        )));
    }
    let host = authority.split(':').next().unwrap_or_default();
    let host_ok = !host.is_empty()
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !host_ok || authority.contains('@') {
        return Err(invalid(format!(
            "the site {site:?} is not a host name: enter e.g. na.myconnectwise.net or cw.example.com"
        )));
    }
    let cloud = CLOUD_SUFFIXES.iter().any(|s| host.ends_with(s));
    let authority = if cloud && !host.starts_with("api-") {
        format!("api-{authority}")
    } else {
        authority
    };
    let mut secrets = Vec::new();
    if let (Some(company), Some(public), Some(private)) = (
        settings.get(COMPANY_ID),
        settings.get(PUBLIC_KEY),
        settings.get(PRIVATE_KEY),
    ) {
        let credentials = format!("{}+{}:{}", company.trim(), public.trim(), private.trim());
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        secrets.push(format!("Basic {encoded}"));
        secrets.push(encoded);
    }
    Ok(NetworkPlan {
        endpoints: vec![Endpoint::api(scheme, authority)],
        secrets,
    })
}

/// The 0.1 `connection` record of `settings`.
fn connection(settings: &Settings) -> wit::Connection {
    let get = |key| settings.get(key).unwrap_or_default().trim().to_string();
    wit::Connection {
        site: get(SITE),
        company_id: get(COMPANY_ID),
        public_key: get(PUBLIC_KEY),
        private_key: get(PRIVATE_KEY),
        client_id: get(CLIENT_ID),
        codebase: settings
            .get(CODEBASE)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    }
}

/// A 0.1 id: ConnectWise's positive 32-bit ids.
fn id(value: i64, what: &str) -> Result<u32, ConnectorError> {
    u32::try_from(value).map_err(|_| {
        ConnectorError::InvalidConfig(format!(
            "{what} {value} is not an id this 0.1 connector can take (a positive 32-bit number)"
        ))
    })
}

/// The 0.1 request for `request`: ids narrowed to 32 bits, the options
/// turned into the 0.1 line's fields.
fn sync_request(request: &SyncRequest) -> Result<wit::SyncRequest, ConnectorError> {
    let lines = request
        .lines
        .iter()
        .map(|l| {
            let option = |key: &str, default: &str| {
                l.options
                    .get(key)
                    .map_or(default.to_string(), String::clone)
            };
            let bill_customer = match option(BILL_METHOD, BILL_METHODS[0]).as_str() {
                "billable" => wit::BillCustomer::Billable,
                "do-not-bill" => wit::BillCustomer::DoNotBill,
                "no-charge" => wit::BillCustomer::NoCharge,
                other => {
                    return Err(ConnectorError::InvalidConfig(format!(
                        "'{other}' is not a bill method: use one of {}",
                        BILL_METHODS.join(", ")
                    )));
                }
            };
            Ok(wit::SyncLine {
                package_key: l.package_key.clone(),
                product_id: id(l.product_id, "product")?,
                quantity: l.quantity,
                bill_customer,
                taxable: option(TAXABLE, "true") != "false",
                description: l.description.clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(wit::SyncRequest {
        company_id: id(request.company_id, "company")?,
        agreement_id: id(request.contract_id, "agreement")?,
        lines,
        dry_run: request.dry_run,
        // 0.1 has one day for both: an addition cancelled on or before it is
        // cancelled, and created additions start on it. Today is right for
        // the first; a later start (billing in advance) needs 0.2.
        effective_date: request.today.clone(),
        update_quantities: request.update_quantities,
        create_missing: request.create_missing,
    })
}

/// Calls the 0.1 export for `op` and converts the answer.
pub(super) async fn invoke(
    guest: &Guest,
    store: &mut Store<CallState>,
    settings: &Settings,
    op: &Op<'_>,
) -> wasmtime::Result<Output> {
    if let Some(output) = answered_by_host(settings, op) {
        return Ok(output);
    }
    let conn = connection(settings);
    Ok(match op {
        Op::Describe | Op::PlanNetwork => unreachable!("answered by the host"),
        Op::TestConnection => Output::Info(
            guest
                .call_test_connection(store, &conn)
                .await?
                .map(|info| connection_info(info, settings))
                .map_err(error),
        ),
        Op::ListProducts => Output::Products(list(guest.call_list_products(store, &conn).await?)),
        Op::ListCompanies => {
            Output::Companies(list(guest.call_list_companies(store, &conn).await?))
        }
        Op::ListContracts(company) => {
            let company = match company.map(|c| id(c, "company")).transpose() {
                Ok(company) => company,
                Err(e) => return Ok(Output::Contracts(Err(e))),
            };
            Output::Contracts(list(
                guest.call_list_agreements(store, &conn, company).await?,
            ))
        }
        Op::Sync(request) => match sync_request(request) {
            Err(e) => Output::Report(Err(e)),
            Ok(wit_request) => Output::Report(
                guest
                    .call_sync_organization(store, &conn, &wit_request)
                    .await?
                    .map(report)
                    .map_err(error),
            ),
        },
        // The runtime refuses it before the call (`not_in_contract`); this
        // only keeps a second path from ever reaching the component.
        Op::EndLine { .. } => {
            return Err(wasmtime::Error::msg(
                "contract 0.1 has no end-line operation",
            ));
        }
    })
}

/// A list result in the latest types.
fn list<W, T: From<W>>(r: Result<Vec<W>, wit::ConnectorError>) -> Result<Vec<T>, ConnectorError> {
    r.map(|v| v.into_iter().map(T::from).collect())
        .map_err(error)
}

fn connection_info(i: wit::ConnectionInfo, settings: &Settings) -> ConnectionInfo {
    let mut facts = vec![(
        "deployment".to_string(),
        if i.is_cloud { "cloud" } else { "on-premise" }.to_string(),
    )];
    if !i.server_time_zone.is_empty() {
        facts.push(("time zone".into(), i.server_time_zone));
    }
    if let Some(region) = i.cloud_region {
        facts.push(("region".into(), region));
    }
    facts.push(("codebase".into(), i.codebase.clone()));
    // A codebase asked for (`auto`) is stored, so later calls skip the
    // lookup: the 0.1 contract's advice to hosts.
    let mut learned = Settings::new();
    if settings.get(CODEBASE).is_some_and(|c| !c.trim().is_empty()) {
        learned.set(CODEBASE, i.codebase);
    }
    ConnectionInfo {
        endpoint: i.api_url,
        psa_version: i.version,
        facts,
        learned_settings: learned,
    }
}

fn decimal(value: f64) -> Decimal {
    Decimal::from_f64(value)
}

impl From<wit::Product> for Product {
    fn from(p: wit::Product) -> Self {
        Product {
            id: i64::from(p.id),
            identifier: p.identifier,
            description: p.description,
            inactive: p.inactive,
            // "Bundles cannot be additions" (the 0.1 contract).
            billable_as_line: p.product_class.as_deref() != Some("Bundle"),
            price: p.price.map(decimal),
            cost: p.cost.map(decimal),
            taxable: Some(p.taxable),
            kind: p.product_class,
        }
    }
}

impl From<wit::Company> for Company {
    fn from(c: wit::Company) -> Self {
        Company {
            id: i64::from(c.id),
            identifier: c.identifier,
            name: c.name,
            status: c.status,
            domain: None,
        }
    }
}

impl From<wit::Agreement> for Contract {
    fn from(a: wit::Agreement) -> Self {
        let day = |d: String| d.get(..10).map(str::to_string).unwrap_or(d);
        Contract {
            id: i64::from(a.id),
            name: a.name,
            company_id: i64::from(a.company_id),
            contract_type: a.agreement_type,
            status: a.status,
            cancelled: a.cancelled,
            start: a.start_date.map(day),
            end: a.end_date.map(day),
        }
    }
}

fn report(r: wit::SyncReport) -> SyncReport {
    SyncReport {
        company_id: i64::from(r.company_id),
        contract_id: i64::from(r.agreement_id),
        dry_run: r.dry_run,
        lines: r
            .lines
            .into_iter()
            .map(|l| LineResult {
                package_key: l.package_key,
                product_id: i64::from(l.product_id),
                quantity: l.quantity,
                outcome: match l.outcome {
                    wit::LineOutcome::Created => LineOutcome::Created,
                    wit::LineOutcome::Updated(u) => LineOutcome::Updated {
                        previous_quantity: decimal(u.previous_quantity),
                    },
                    wit::LineOutcome::Unchanged => LineOutcome::Unchanged,
                    wit::LineOutcome::Conflict(ids) => {
                        LineOutcome::Conflict(ids.into_iter().map(i64::from).collect())
                    }
                    wit::LineOutcome::Skipped(reason) => LineOutcome::Skipped(reason),
                    wit::LineOutcome::Failed(e) => LineOutcome::Failed(error(e)),
                },
                line_id: l.addition_id.map(i64::from),
                unit_price: None,
            })
            .collect(),
        requests: r.requests,
        writes: r.writes,
    }
}

fn error(e: wit::ConnectorError) -> ConnectorError {
    match e {
        wit::ConnectorError::InvalidConfig(m) => ConnectorError::InvalidConfig(m),
        wit::ConnectorError::Unauthorized(m) => ConnectorError::Unauthorized(m),
        wit::ConnectorError::Forbidden(f) => ConnectorError::Forbidden {
            message: f.message,
            permission: f.permission,
        },
        wit::ConnectorError::NotFound(m) => ConnectorError::NotFound(m),
        wit::ConnectorError::RateLimited(r) => ConnectorError::RateLimited {
            retry_after_seconds: r.retry_after_seconds,
            message: r.message,
        },
        wit::ConnectorError::Remote(r) => ConnectorError::Remote {
            status: r.status,
            code: r.code,
            message: r.message,
        },
        wit::ConnectorError::Transport(m) => ConnectorError::Transport(m),
        wit::ConnectorError::InvalidResponse(m) => ConnectorError::InvalidResponse(m),
    }
}

impl seatsync::psa::log::Host for CallState {
    fn emit(&mut self, level: seatsync::psa::log::Level, message: String) {
        use seatsync::psa::log::Level as L;
        let level = match level {
            L::Trace => LogLevel::Trace,
            L::Debug => LogLevel::Debug,
            L::Info => LogLevel::Info,
            L::Warn => LogLevel::Warn,
            L::Error => LogLevel::Error,
        };
        self.emit(level, &message);
    }
}

impl seatsync::psa::types::Host for CallState {}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(site: &str) -> Settings {
        [
            (SITE, site),
            (COMPANY_ID, "contoso"),
            (PUBLIC_KEY, "pub"),
            (PRIVATE_KEY, "priv-SECRET"),
            (CLIENT_ID, "client"),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_cloud_site_is_planned_through_its_api_host_with_the_basic_credentials() {
        let plan = plan_network(&settings("na.myconnectwise.net")).unwrap();
        assert_eq!(
            plan.endpoints,
            [Endpoint::api("https", "api-na.myconnectwise.net")]
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode("contoso+pub:priv-SECRET");
        assert_eq!(plan.secrets, [format!("Basic {encoded}"), encoded]);
        let onprem = plan_network(&settings("http://127.0.0.1:8080/")).unwrap();
        assert_eq!(onprem.endpoints[0].scheme, "http");
        assert_eq!(onprem.endpoints[0].authority, "127.0.0.1:8080");
    }

    #[test]
    fn unusable_sites_say_what_to_enter() {
        for (site, needle) in [
            ("", "the site is empty"),
            ("ftp://cw.example.com", "has the scheme \"ftp\""),
            ("cw.example.com/v4_6_release", "has a path"),
            ("not a host!", "is not a host name"),
        ] {
            let error = plan_network(&settings(site)).unwrap_err().to_string();
            assert!(error.contains(needle), "{site}: {error}");
        }
    }

    #[test]
    fn options_become_the_0_1_line_fields_and_ids_must_fit() {
        let mut request = SyncRequest {
            company_id: 254,
            contract_id: 102,
            lines: vec![seatsync_contract::SyncLine {
                package_key: "business".into(),
                product_id: 19,
                quantity: 3,
                options: [(BILL_METHOD.to_string(), "no-charge".to_string())]
                    .into_iter()
                    .collect(),
                description: None,
            }],
            dry_run: false,
            today: "2026-11-27".into(),
            start_date: "2026-12-01".into(),
            update_quantities: true,
            create_missing: true,
        };
        let wit = sync_request(&request).unwrap();
        assert!(matches!(
            wit.lines[0].bill_customer,
            wit::BillCustomer::NoCharge
        ));
        assert!(wit.lines[0].taxable, "the default");
        assert_eq!(wit.effective_date, "2026-11-27", "today");
        request.contract_id = 1 << 40;
        assert!(
            sync_request(&request)
                .unwrap_err()
                .to_string()
                .contains("agreement 1099511627776 is not an id")
        );
    }
}
