//! The seatsync ConnectWise Manage connector.
//!
//! Built for `wasm32-wasip2` this crate is a component of the world
//! `seatsync:psa/connectwise-plugin` (see `wit/psa.wit`): the glue in
//! `bindings` turns WIT calls into calls of the functions below and sends
//! HTTP through `wasi:http` with waki. Built natively, the same functions run
//! over any [`http::Transport`]: that is how they are tested, request by
//! request, and how a native baseline measures the sandbox's cost.
//!
//! Modules, from the wire up:
//! - [`http`]: requests, responses and the transport trait;
//! - [`connection`]: site, codebase and credentials;
//! - [`query`]: `conditions`, `fields` and paging parameters;
//! - [`client`]: sending with bounded retries, error mapping, paging;
//! - [`catalog`], [`companies`], [`agreements`]: the lists;
//! - [`reconcile`] (pure) and [`sync`]: making additions match counts;
//! - [`rights`]: the read rights `test-connection` checks.

#![warn(missing_docs)]

pub mod agreements;
pub mod catalog;
pub mod client;
pub mod companies;
pub mod connection;
pub mod http;
pub mod model;
pub mod query;
pub mod reconcile;
pub mod rights;
pub mod sync;
pub mod wire;

/// Why a connector call failed: the contract's error type.
pub use seatsync_contract::error;

#[cfg(all(target_arch = "wasm32", feature = "bindings"))]
pub mod bindings;
#[cfg(target_arch = "wasm32")]
pub mod wasi_http;

use client::Client;
use connection::{Endpoint, normalize_codebase_value};
use error::ConnectorError;
use http::Transport;
use model::{Agreement, Company, Connection, ConnectionInfo, Product, SyncReport, SyncRequest};

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
