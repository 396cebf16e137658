//! The wasmtime bindings of the WIT world `seatsync:psa/connectwise-plugin`
//! (`wit/psa.wit`), and the conversions between the generated types and
//! [`seatsync_plugin::model`] / [`ConnectorError`].
//!
//! Nothing outside `runtime` sees a generated type: the conversions below are
//! the whole boundary. They mirror the guest's own glue
//! (`plugin/src/component.rs`), in the other direction.

use seatsync_plugin::error::ConnectorError;
use seatsync_plugin::model;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connectwise-plugin",
    // Exports are called with `call_async`; the one import (`log.emit`) is a
    // plain, non-blocking host function.
    exports: { default: async },
});

pub(crate) use exports::seatsync::psa::connector::Guest as ConnectorExports;
pub(crate) use seatsync::psa::log::Level as WitLevel;
use seatsync::psa::types as wit;

pub(crate) fn connection(c: &model::Connection) -> wit::Connection {
    wit::Connection {
        site: c.site.clone(),
        company_id: c.company_id.clone(),
        public_key: c.public_key.clone(),
        private_key: c.private_key.clone(),
        client_id: c.client_id.clone(),
        codebase: c.codebase.clone(),
    }
}

pub(crate) fn sync_request(r: &model::SyncRequest) -> wit::SyncRequest {
    wit::SyncRequest {
        company_id: r.company_id,
        agreement_id: r.agreement_id,
        lines: r
            .lines
            .iter()
            .map(|l| wit::SyncLine {
                package_key: l.package_key.clone(),
                product_id: l.product_id,
                quantity: l.quantity,
                bill_customer: match l.bill_customer {
                    model::BillCustomer::Billable => wit::BillCustomer::Billable,
                    model::BillCustomer::DoNotBill => wit::BillCustomer::DoNotBill,
                    model::BillCustomer::NoCharge => wit::BillCustomer::NoCharge,
                },
                taxable: l.taxable,
                description: l.description.clone(),
            })
            .collect(),
        dry_run: r.dry_run,
        effective_date: r.effective_date.clone(),
        update_quantities: r.update_quantities,
        create_missing: r.create_missing,
    }
}

impl From<wit::ConnectionInfo> for model::ConnectionInfo {
    fn from(i: wit::ConnectionInfo) -> Self {
        model::ConnectionInfo {
            api_url: i.api_url,
            codebase: i.codebase,
            version: i.version,
            is_cloud: i.is_cloud,
            server_time_zone: i.server_time_zone,
            cloud_region: i.cloud_region,
        }
    }
}

impl From<wit::Product> for model::Product {
    fn from(p: wit::Product) -> Self {
        model::Product {
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

impl From<wit::Company> for model::Company {
    fn from(c: wit::Company) -> Self {
        model::Company {
            id: c.id,
            identifier: c.identifier,
            name: c.name,
            status: c.status,
            deleted: c.deleted,
        }
    }
}

impl From<wit::Agreement> for model::Agreement {
    fn from(a: wit::Agreement) -> Self {
        model::Agreement {
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

impl From<wit::LineOutcome> for model::LineOutcome {
    fn from(o: wit::LineOutcome) -> Self {
        match o {
            wit::LineOutcome::Created => model::LineOutcome::Created,
            wit::LineOutcome::Updated(u) => model::LineOutcome::Updated {
                previous_quantity: u.previous_quantity,
            },
            wit::LineOutcome::Unchanged => model::LineOutcome::Unchanged,
            wit::LineOutcome::Conflict(ids) => model::LineOutcome::Conflict(ids),
            wit::LineOutcome::Skipped(reason) => model::LineOutcome::Skipped(reason),
            wit::LineOutcome::Failed(e) => model::LineOutcome::Failed(e.into()),
        }
    }
}

impl From<wit::SyncReport> for model::SyncReport {
    fn from(r: wit::SyncReport) -> Self {
        model::SyncReport {
            company_id: r.company_id,
            agreement_id: r.agreement_id,
            dry_run: r.dry_run,
            lines: r
                .lines
                .into_iter()
                .map(|l| model::LineResult {
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

impl From<wit::ConnectorError> for ConnectorError {
    fn from(e: wit::ConnectorError) -> Self {
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
}

/// Converts a guest result into the host's types.
pub(crate) fn convert<W, M: From<W>>(
    r: Result<W, wit::ConnectorError>,
) -> Result<M, ConnectorError> {
    r.map(M::from).map_err(ConnectorError::from)
}

/// Converts a guest list result into the host's types.
pub(crate) fn convert_list<W, M: From<W>>(
    r: Result<Vec<W>, wit::ConnectorError>,
) -> Result<Vec<M>, ConnectorError> {
    r.map(|v| v.into_iter().map(M::from).collect())
        .map_err(ConnectorError::from)
}
