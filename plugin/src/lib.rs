//! The seatsync ConnectWise Manage connector.
//!
//! Built for `wasm32-wasip2` this crate is a component of the world
//! `seatsync:psa/plugin@0.2.0` (see `wit/psa.wit`; it exports
//! `seatsync:psa/connector@0.2.0`): the glue in `bindings` turns WIT calls
//! into calls of [`describe`], [`plan_network`] and the operations of
//! [`psa`], and sends HTTP through `wasi:http` (`wasi_http`). Built natively, the
//! same functions run over any [`http::Transport`]: that is how they are
//! tested, request by request, and how a native baseline measures the
//! sandbox's cost.
//!
//! Two layers: the ConnectWise-shaped operations below
//! ([`test_connection`], [`list_products`], ...) take a [`model::Connection`]
//! and return [`model`] types; [`psa`] takes the contract's settings and
//! types (`seatsync-contract`), PSA-neutral, and converts.
//!
//! Modules, from the wire up:
//! - [`http`]: requests, responses and the transport trait;
//! - [`connection`]: site, codebase and credentials;
//! - [`query`]: `conditions`, `fields` and paging parameters;
//! - [`client`]: sending with bounded retries, error mapping, paging;
//! - [`catalog`], [`companies`], [`agreements`]: the lists;
//! - [`reconcile`] (pure) and [`sync`]: making additions match counts;
//! - [`end`]: ending one addition, after a person confirmed it;
//! - [`rights`]: the read rights `test-connection` checks;
//! - [`psa`]: the contract's operations over settings, and the conversions.

#![warn(missing_docs)]

pub mod agreements;
pub mod catalog;
pub mod client;
pub mod companies;
pub mod connection;
pub mod end;
pub mod http;
pub mod model;
pub mod psa;
pub mod query;
pub mod reconcile;
pub mod rights;
pub mod sync;
pub mod wire;

/// Why a connector call failed: the contract's error type.
pub use seatsync_contract::error;

#[cfg(all(target_arch = "wasm32", feature = "bindings"))]
pub mod bindings;
#[cfg(all(target_arch = "wasm32", feature = "bindings"))]
pub mod wasi_http;

use client::Client;
use connection::{Endpoint, keys, normalize_codebase_value};
use error::ConnectorError;
use http::Transport;
use model::{Agreement, Company, Connection, ConnectionInfo, Product, SyncReport, SyncRequest};
use seatsync_contract::{
    ConnectorDescription, NetworkPlan, OptionDescription, OptionKind, SettingDescription, Settings,
};

/// What the connector is and needs (`describe`): the same for every call.
pub fn describe() -> ConnectorDescription {
    description().clone()
}

/// [`describe`]'s answer, built once per instance: the sync path checks
/// every line's options against it, and building it (help texts and all)
/// for each line was a good part of a re-sync's cost in the component
/// (docs/performance.md, the 0.2 regression).
pub fn description() -> &'static ConnectorDescription {
    static DESCRIPTION: std::sync::OnceLock<ConnectorDescription> = std::sync::OnceLock::new();
    DESCRIPTION.get_or_init(build_description)
}

fn build_description() -> ConnectorDescription {
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
        name: "seatsync ConnectWise connector".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        psa: "ConnectWise Manage".into(),
        line_noun: "agreement addition".into(),
        contract_noun: "agreement".into(),
        settings: vec![
            setting(
                keys::SITE,
                "Site",
                "The ConnectWise host, e.g. na.myconnectwise.net or cw.example.com: cloud hosts \
                 (*.myconnectwise.net) get the api- prefix the API needs, on-premise hosts are \
                 used as given; or an http(s):// URL without a path.",
                false,
                true,
            ),
            setting(
                keys::COMPANY_ID,
                "Company ID",
                "The company identifier typed on the ConnectWise login screen (text, not a \
                 numeric id).",
                false,
                true,
            ),
            setting(
                keys::PUBLIC_KEY,
                "Public key",
                "The API member's public key (System > Members > API Members > API Keys).",
                false,
                true,
            ),
            setting(
                keys::PRIVATE_KEY,
                "Private key",
                "The API member's private key, shown once when the key pair is created.",
                true,
                true,
            ),
            setting(
                keys::CLIENT_ID,
                "Client ID",
                "The integration's client id: a GUID from ConnectWise's developer network, \
                 sent as the clientId header.",
                false,
                true,
            ),
            SettingDescription {
                default_value: Some(connection::DEFAULT_CODEBASE.into()),
                ..setting(
                    keys::CODEBASE,
                    "Codebase",
                    "The API codebase, e.g. v2025_1. Empty means v4_6_release/, which routes \
                     to the tenant's current version; auto looks it up on each call (one more \
                     request), and test-connection reports it to store.",
                    false,
                    false,
                )
            },
        ],
        line_options: vec![
            OptionDescription {
                key: psa::options::BILL_METHOD.into(),
                label: "Bill method".into(),
                help: "How a created addition is billed: billable, do-not-bill, or no-charge \
                       (shown on the invoice at no charge)."
                    .into(),
                kind: OptionKind::Choice(
                    psa::options::BILL_METHODS
                        .iter()
                        .map(|(value, _)| value.to_string())
                        .collect(),
                ),
                default_value: psa::options::BILL_METHODS[0].0.into(),
            },
            OptionDescription {
                key: psa::options::TAXABLE.into(),
                label: "Taxable".into(),
                help: "Whether a created addition is taxable.".into(),
                kind: OptionKind::Flag,
                default_value: "true".into(),
            },
        ],
    }
}

/// Where these settings lead (`plan-network`), for the host's sandbox: the
/// site's scheme and authority (with the cloud's `api-` prefix; the
/// codebase lookup of `auto` goes to the same host), and the credentials
/// derived from the secret settings that go on the wire. Sends nothing.
pub fn plan_network(settings: &Settings) -> Result<NetworkPlan, ConnectorError> {
    let endpoint = Endpoint::new(&connection::from_settings(settings)?)?;
    Ok(NetworkPlan {
        // The codebase lookup of `auto` reads the same host: one endpoint.
        endpoints: vec![seatsync_contract::Endpoint::api(
            endpoint.site.scheme,
            endpoint.site.authority.clone(),
        )],
        secrets: endpoint.derived_secrets(),
    })
}

/// Checks the connection with one authenticated `GET /system/info`, then
/// each read right the sync depends on ([`rights`]).
pub fn test_connection<T: Transport>(
    transport: &mut T,
    conn: &Connection,
) -> Result<ConnectionInfo, ConnectorError> {
    with_client(transport, conn, |client| {
        let info: wire::Info = client.get_json("/system/info", "", "the system info")?;
        let api_url = client.api_url().to_string();
        let codebase = codebase_of(&api_url);
        rights::check_read_rights(client)?;
        client.log(
            http::Level::Info,
            &format!(
                "connected to {api_url} (ConnectWise {})",
                info.version.as_deref().unwrap_or("version unknown")
            ),
        );
        Ok(ConnectionInfo {
            api_url,
            codebase,
            version: info.version.unwrap_or_default(),
            is_cloud: info.is_cloud.unwrap_or(false),
            server_time_zone: info.server_time_zone.unwrap_or_default(),
            cloud_region: info.cloud_region.filter(|r| !r.is_empty()),
        })
    })
}

/// Every catalog item.
pub fn list_products<T: Transport>(
    transport: &mut T,
    conn: &Connection,
) -> Result<Vec<Product>, ConnectorError> {
    with_client(transport, conn, catalog::list_products)
}

/// Every company that is not deleted.
pub fn list_companies<T: Transport>(
    transport: &mut T,
    conn: &Connection,
) -> Result<Vec<Company>, ConnectorError> {
    with_client(transport, conn, companies::list_companies)
}

/// Every agreement, or one company's.
pub fn list_agreements<T: Transport>(
    transport: &mut T,
    conn: &Connection,
    company_id: Option<u32>,
) -> Result<Vec<Agreement>, ConnectorError> {
    with_client(transport, conn, |client| {
        agreements::list_agreements(client, company_id)
    })
}

/// Makes one agreement's additions match one organization's counts.
pub fn sync_organization<T: Transport>(
    transport: &mut T,
    conn: &Connection,
    request: &SyncRequest,
) -> Result<SyncReport, ConnectorError> {
    with_client(transport, conn, |client| {
        sync::sync_organization(client, request)
    })
}

/// Ends one addition of one agreement on `day` (`YYYY-MM-DD`), after
/// checking it belongs to the agreement and is still active ([`end`]).
pub fn end_addition<T: Transport>(
    transport: &mut T,
    conn: &Connection,
    agreement_id: u32,
    addition_id: u32,
    day: &str,
) -> Result<(), ConnectorError> {
    with_client(transport, conn, |client| {
        end::end_addition(client, agreement_id, addition_id, day)
    })
}

/// Validates the connection, resolves the API URL (looking the codebase up
/// when asked to) and runs `f` with a fresh client.
fn with_client<T: Transport, R>(
    transport: &mut T,
    conn: &Connection,
    f: impl FnOnce(&mut Client<'_, T>) -> Result<R, ConnectorError>,
) -> Result<R, ConnectorError> {
    let endpoint = Endpoint::new(conn)?;
    let mut client = match endpoint.api_url() {
        Some(api_url) => Client::new(transport, &endpoint, api_url),
        None => {
            // The lookup lives outside the API base; a client rooted at the
            // site sends it with the usual headers, which does no harm.
            let mut lookup = Client::new(transport, &endpoint, endpoint.site.origin());
            let path = format!("/login/companyinfo/{}", query::encode(&endpoint.company_id));
            let info: wire::CompanyInfo = lookup.get_json(&path, "", "the company's codebase")?;
            let codebase = info
                .codebase
                .ok_or_else(|| {
                    ConnectorError::InvalidResponse("the company info has no Codebase".into())
                })
                .and_then(|c| normalize_codebase_value(&c))?;
            let api_url = format!("{}/{codebase}apis/3.0", endpoint.site.origin());
            Client::new(transport, &endpoint, api_url)
        }
    };
    f(&mut client)
}

/// The codebase part of an API URL, `…/{codebase}apis/3.0`.
fn codebase_of(api_url: &str) -> String {
    api_url
        .strip_suffix("apis/3.0")
        .and_then(|rest| rest.rsplit_once("://"))
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, codebase)| codebase.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(site: &str) -> Settings {
        [
            (keys::SITE, site),
            (keys::COMPANY_ID, "contoso"),
            (keys::PUBLIC_KEY, "pub"),
            (keys::PRIVATE_KEY, "priv-SECRET"),
            (keys::CLIENT_ID, "0000-client"),
        ]
        .into_iter()
        .collect()
    }

    fn endpoints(plan: &NetworkPlan) -> Vec<(&str, &str)> {
        plan.endpoints
            .iter()
            .map(|e| (e.scheme.as_str(), e.authority.as_str()))
            .collect()
    }

    #[test]
    fn describe_names_the_connector_its_settings_and_options() {
        let d = describe();
        assert_eq!(d.name, "seatsync ConnectWise connector");
        assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            (
                d.psa.as_str(),
                d.line_noun.as_str(),
                d.contract_noun.as_str()
            ),
            ("ConnectWise Manage", "agreement addition", "agreement")
        );
        let settings: Vec<(&str, bool, bool)> = d
            .settings
            .iter()
            .map(|s| (s.key.as_str(), s.secret, s.required))
            .collect();
        assert_eq!(
            settings,
            [
                ("site", false, true),
                ("company-id", false, true),
                ("public-key", false, true),
                ("private-key", true, true),
                ("client-id", false, true),
                ("codebase", false, false),
            ]
        );
        assert!(d.setting("site").unwrap().help.contains("api-"));
        assert!(d.setting("site").unwrap().help.contains("http(s)://"));
        assert!(d.setting("codebase").unwrap().help.contains("auto"));
        assert!(
            d.settings
                .iter()
                .all(|s| !s.label.is_empty() && !s.help.is_empty())
        );

        let bill = d.option("bill-method").unwrap();
        assert_eq!(
            bill.kind,
            OptionKind::Choice(vec![
                "billable".into(),
                "do-not-bill".into(),
                "no-charge".into()
            ])
        );
        assert_eq!(bill.default_value, "billable");
        let taxable = d.option("taxable").unwrap();
        assert_eq!(
            (&taxable.kind, taxable.default_value.as_str()),
            (&OptionKind::Flag, "true")
        );
        assert_eq!(d.line_options.len(), 2);
        for option in &d.line_options {
            assert!(
                option.check(&option.default_value).is_ok(),
                "{}",
                option.key
            );
        }
    }

    #[test]
    fn cloud_sites_are_planned_with_the_api_prefix() {
        for site in [
            "na.myconnectwise.net",
            "https://na.myconnectwise.net/",
            "api-na.myconnectwise.net",
        ] {
            let plan = plan_network(&settings(site)).unwrap();
            assert_eq!(
                endpoints(&plan),
                [("https", "api-na.myconnectwise.net")],
                "{site}"
            );
        }
    }

    #[test]
    fn on_premise_and_http_sites_are_planned_as_given() {
        let plan = plan_network(&settings("CW.Example.com:8443")).unwrap();
        assert_eq!(endpoints(&plan), [("https", "cw.example.com:8443")]);
        let plan = plan_network(&settings("http://127.0.0.1:8080")).unwrap();
        assert_eq!(endpoints(&plan), [("http", "127.0.0.1:8080")]);
        let mut auto = settings("cw.example.com");
        auto.set(keys::CODEBASE, "auto");
        let plan = plan_network(&auto).unwrap();
        assert_eq!(
            endpoints(&plan),
            [("https", "cw.example.com")],
            "the lookup goes to the site"
        );
    }

    #[test]
    fn the_plan_lists_the_authorization_secrets_and_never_shows_them() {
        for site in [
            "na.myconnectwise.net",
            "cw.example.com",
            "http://127.0.0.1:8080",
        ] {
            let plan = plan_network(&settings(site)).unwrap();
            assert!(!plan.secrets.is_empty(), "{site}");
            assert!(plan.secrets.iter().all(|s| !s.is_empty()));
            assert!(plan.secrets[0].starts_with("Basic "));
            assert!(plan.secrets[0].ends_with(&plan.secrets[1]));
            assert!(!format!("{plan:?}").contains(&plan.secrets[1]));
        }
    }

    #[test]
    fn unusable_settings_are_refused_with_todays_messages() {
        let err = plan_network(&settings("ftp://cw.example.com")).unwrap_err();
        assert!(
            matches!(&err, ConnectorError::InvalidConfig(m) if m.contains("scheme")),
            "{err}"
        );
        let err = plan_network(&settings("http://na.myconnectwise.net")).unwrap_err();
        assert!(err.to_string().contains("requires https"), "{err}");
        let mut missing = settings("cw.example.com");
        missing.remove(keys::CLIENT_ID);
        let err = plan_network(&missing).unwrap_err();
        assert!(err.to_string().contains("'client-id' is missing"), "{err}");
    }
}
