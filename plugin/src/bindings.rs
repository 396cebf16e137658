//! The component glue: the WIT bindings of `connectwise-plugin`,
//! conversions between the generated types and [`crate::model`], and
//! [`Connector`], the connector as a WIT `Guest`.
//!
//! Nothing here decides anything; it only translates, so that all behaviour
//! stays in the natively tested modules.
//!
//! With the `component` feature (the default) this crate exports
//! [`Connector`] and is the component. With only the `bindings` feature,
//! another component can reuse all of it: implement [`Guest`] (delegating
//! to [`Connector`] where it wants the real connector) and export it with
//! `seatsync_plugin::bindings::export!(MyGuest);`. The test guests do that.

// The generated items carry the WIT file's comments where the WIT has
// them; wit-bindgen's own plumbing has none.
#![allow(missing_docs)]

use crate::error::ConnectorError;
use crate::http::Level;
use crate::model;
use crate::wasi_http::WasiHttp;

wit_bindgen::generate!({
    path: "../wit",
    world: "connectwise-plugin",
    // Other crates can export their own guest with these bindings.
    pub_export_macro: true,
    default_bindings_module: "seatsync_plugin::bindings",
});

pub use exports::seatsync::psa::connector::Guest;
use seatsync::psa::log;
/// The generated types of `seatsync:psa/types`.
pub use seatsync::psa::types as wit;

/// The real connector as a WIT guest.
pub struct Connector;

// The macro must be used where it is generated: a macro-expanded
// `macro_export` cannot be named by path inside its own crate.
#[cfg(feature = "component")]
export!(Connector with_types_in crate::bindings);

/// HTTP through wasi:http, logging through the host's `log` import.
pub fn transport() -> WasiHttp<fn(Level, &str)> {
    WasiHttp::new(emit)
}

/// Sends one log line to the host's `log` import.
pub fn emit(level: Level, message: &str) {
    let level = match level {
        Level::Trace => log::Level::Trace,
        Level::Debug => log::Level::Debug,
        Level::Info => log::Level::Info,
        Level::Warn => log::Level::Warn,
        Level::Error => log::Level::Error,
    };
    log::emit(level, message);
}

impl Guest for Connector {
    fn test_connection(conn: wit::Connection) -> Result<wit::ConnectionInfo, wit::ConnectorError> {
        crate::test_connection(&mut transport(), &conn.into())
            .map(Into::into)
            .map_err(Into::into)
    }

    fn list_products(conn: wit::Connection) -> Result<Vec<wit::Product>, wit::ConnectorError> {
        crate::list_products(&mut transport(), &conn.into())
            .map(|v| v.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn list_companies(conn: wit::Connection) -> Result<Vec<wit::Company>, wit::ConnectorError> {
        crate::list_companies(&mut transport(), &conn.into())
            .map(|v| v.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn list_agreements(
        conn: wit::Connection,
        company_id: Option<u32>,
    ) -> Result<Vec<wit::Agreement>, wit::ConnectorError> {
        crate::list_agreements(&mut transport(), &conn.into(), company_id)
            .map(|v| v.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn sync_organization(
        conn: wit::Connection,
        request: wit::SyncRequest,
    ) -> Result<wit::SyncReport, wit::ConnectorError> {
        crate::sync_organization(&mut transport(), &conn.into(), &request.into())
            .map(Into::into)
            .map_err(Into::into)
    }
}

impl From<wit::Connection> for model::Connection {
    fn from(c: wit::Connection) -> Self {
        model::Connection {
            site: c.site,
            company_id: c.company_id,
            public_key: c.public_key,
            private_key: c.private_key,
            client_id: c.client_id,
            codebase: c.codebase,
        }
    }
}

impl From<model::ConnectionInfo> for wit::ConnectionInfo {
    fn from(i: model::ConnectionInfo) -> Self {
        wit::ConnectionInfo {
            api_url: i.api_url,
            codebase: i.codebase,
            version: i.version,
            is_cloud: i.is_cloud,
            server_time_zone: i.server_time_zone,
            cloud_region: i.cloud_region,
        }
    }
}

impl From<model::Product> for wit::Product {
    fn from(p: model::Product) -> Self {
        wit::Product {
            id: p.id,
            identifier: p.identifier,
            description: p.description,
            inactive: p.inactive,
            price: p.price,
            cost: p.cost,
            taxable: p.taxable,
            product_class: p.product_class,
        }
    }
}

impl From<model::Company> for wit::Company {
    fn from(c: model::Company) -> Self {
        wit::Company {
            id: c.id,
            identifier: c.identifier,
            name: c.name,
            status: c.status,
            deleted: c.deleted,
        }
    }
}

impl From<model::Agreement> for wit::Agreement {
    fn from(a: model::Agreement) -> Self {
        wit::Agreement {
            id: a.id,
            name: a.name,
            company_id: a.company_id,
            agreement_type: a.agreement_type,
            status: a.status,
            cancelled: a.cancelled,
            start_date: a.start_date,
            end_date: a.end_date,
        }
    }
}

impl From<wit::BillCustomer> for model::BillCustomer {
    fn from(b: wit::BillCustomer) -> Self {
        match b {
            wit::BillCustomer::Billable => model::BillCustomer::Billable,
            wit::BillCustomer::DoNotBill => model::BillCustomer::DoNotBill,
            wit::BillCustomer::NoCharge => model::BillCustomer::NoCharge,
        }
    }
}

impl From<wit::SyncRequest> for model::SyncRequest {
    fn from(r: wit::SyncRequest) -> Self {
        model::SyncRequest {
            company_id: r.company_id,
            agreement_id: r.agreement_id,
            lines: r
                .lines
                .into_iter()
                .map(|l| model::SyncLine {
                    package_key: l.package_key,
                    product_id: l.product_id,
                    quantity: l.quantity,
                    bill_customer: l.bill_customer.into(),
                    taxable: l.taxable,
                    description: l.description,
                })
                .collect(),
            dry_run: r.dry_run,
            effective_date: r.effective_date,
            update_quantities: r.update_quantities,
            create_missing: r.create_missing,
        }
    }
}

impl From<model::LineOutcome> for wit::LineOutcome {
    fn from(o: model::LineOutcome) -> Self {
        match o {
            model::LineOutcome::Created => wit::LineOutcome::Created,
            model::LineOutcome::Updated { previous_quantity } => {
                wit::LineOutcome::Updated(wit::Updated { previous_quantity })
            }
            model::LineOutcome::Unchanged => wit::LineOutcome::Unchanged,
            model::LineOutcome::Conflict(ids) => wit::LineOutcome::Conflict(ids),
            model::LineOutcome::Skipped(reason) => wit::LineOutcome::Skipped(reason),
            model::LineOutcome::Failed(e) => wit::LineOutcome::Failed(e.into()),
        }
    }
}

impl From<model::SyncReport> for wit::SyncReport {
    fn from(r: model::SyncReport) -> Self {
        wit::SyncReport {
            company_id: r.company_id,
            agreement_id: r.agreement_id,
            dry_run: r.dry_run,
            lines: r
                .lines
                .into_iter()
                .map(|l| wit::LineResult {
                    package_key: l.package_key,
                    product_id: l.product_id,
                    quantity: l.quantity,
                    outcome: l.outcome.into(),
                    addition_id: l.addition_id,
                })
                .collect(),
            requests: r.requests,
            writes: r.writes,
        }
    }
}

impl From<ConnectorError> for wit::ConnectorError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::InvalidConfig(m) => wit::ConnectorError::InvalidConfig(m),
            ConnectorError::Unauthorized(m) => wit::ConnectorError::Unauthorized(m),
            ConnectorError::Forbidden {
                message,
                permission,
            } => wit::ConnectorError::Forbidden(wit::Forbidden {
                message,
                permission,
            }),
            ConnectorError::NotFound(m) => wit::ConnectorError::NotFound(m),
            ConnectorError::RateLimited {
                retry_after_seconds,
                message,
            } => wit::ConnectorError::RateLimited(wit::RateLimited {
                retry_after_seconds,
                message,
            }),
            ConnectorError::Remote {
                status,
                code,
                message,
            } => wit::ConnectorError::Remote(wit::RemoteError {
                status,
                code,
                message,
            }),
            ConnectorError::Transport(m) => wit::ConnectorError::Transport(m),
            ConnectorError::InvalidResponse(m) => wit::ConnectorError::InvalidResponse(m),
        }
    }
}
