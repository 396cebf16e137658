//! The connector's own data, ConnectWise-shaped: u32 ids, agreements,
//! additions, floats as ConnectWise stores them.
//!
//! The connector's logic works on these plain types so that it builds and is
//! tested on the native target. [`crate::psa`] converts them to and from the
//! contract's PSA-neutral types (`seatsync-contract`), and the component
//! glue (`bindings`) converts those to and from the generated WIT types.

use std::fmt;

use serde::Serialize;

use crate::error::ConnectorError;

/// How to reach and authenticate to one ConnectWise Manage tenant.
///
/// `Debug` is written by hand so that the private key can never reach a log
/// line or a panic message through `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// A bare host, `host:port`, or an `http(s)://` URL without a path.
    pub site: String,
    /// The login company identifier.
    pub company_id: String,
    /// The API member's public key.
    pub public_key: String,
    /// The API member's private key.
    pub private_key: String,
    /// The integration's `clientId`.
    pub client_id: String,
    /// `None` for `v4_6_release/`; `Some("auto")` to look it up.
    pub codebase: Option<String>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("site", &self.site)
            .field("company_id", &self.company_id)
            .field("public_key", &self.public_key)
            .field("private_key", &"[redacted]")
            .field("client_id", &self.client_id)
            .field("codebase", &self.codebase)
            .finish()
    }
}

/// What `test-connection` learnt about the tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionInfo {
    /// The API base URL used, ending in `/apis/3.0`.
    pub api_url: String,
    /// The codebase in `api_url`, ending in `/`.
    pub codebase: String,
    /// The server's version string.
    pub version: String,
    /// Whether the tenant is on ConnectWise's cloud.
    pub is_cloud: bool,
    /// The server's time zone name.
    pub server_time_zone: String,
    /// The cloud region, when reported.
    pub cloud_region: Option<String>,
}

/// A catalog item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    /// The catalog item's id.
    pub id: u32,
    /// The product id / SKU shown in ConnectWise.
    pub identifier: String,
    /// The product's description.
    pub description: String,
    /// Inactive products should not be mapped.
    pub inactive: bool,
    /// The catalog price per unit.
    pub price: Option<f64>,
    /// The catalog cost per unit.
    pub cost: Option<f64>,
    /// Whether the product is taxable.
    pub taxable: bool,
    /// `Agreement`, `Bundle`, `Inventory`, `NonInventory` or `Service`.
    pub product_class: Option<String>,
}

/// A customer company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Company {
    /// The company's id.
    pub id: u32,
    /// The short company id shown in ConnectWise.
    pub identifier: String,
    /// The company's name.
    pub name: String,
    /// The status name, e.g. `Active`.
    pub status: Option<String>,
    /// Always false in lists (deleted companies are left out).
    pub deleted: bool,
    /// The company's website as ConnectWise has it (free text: a host, a
    /// URL), when set.
    pub website: Option<String>,
}

/// An agreement with a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agreement {
    /// The agreement's id.
    pub id: u32,
    /// The agreement's name.
    pub name: String,
    /// The company it belongs to.
    pub company_id: u32,
    /// The agreement type's name.
    pub agreement_type: Option<String>,
    /// `Active`, `Cancelled`, `Expired` or `Inactive`.
    pub status: Option<String>,
    /// Cancelled agreements must not be synced to.
    pub cancelled: bool,
    /// When it starts, as ConnectWise writes dates.
    pub start_date: Option<String>,
    /// When it ends; `None` for no end date.
    pub end_date: Option<String>,
}

/// How an addition is billed to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BillCustomer {
    /// Billed to the customer.
    Billable,
    /// Not billed.
    DoNotBill,
    /// Shown on the invoice at no charge.
    NoCharge,
}

impl BillCustomer {
    /// The value ConnectWise's `billCustomer` field takes.
    pub fn as_api_str(self) -> &'static str {
        match self {
            BillCustomer::Billable => "Billable",
            BillCustomer::DoNotBill => "DoNotBill",
            BillCustomer::NoCharge => "NoCharge",
        }
    }
}

/// One mapped package of one organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncLine {
    /// The vendor's package key, echoed in the report.
    pub package_key: String,
    /// The catalog item the package is mapped to.
    pub product_id: u32,
    /// The active users: the quantity the addition must have.
    pub quantity: u32,
    /// How a created addition is billed.
    pub bill_customer: BillCustomer,
    /// Whether a created addition is taxable.
    pub taxable: bool,
    /// Invoice text for a created addition; `None` keeps the catalog's.
    pub description: Option<String>,
}

/// Everything `sync-organization` needs for one organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRequest {
    /// The company the organization is mapped to.
    pub company_id: u32,
    /// The agreement whose additions carry the counts.
    pub agreement_id: u32,
    /// One line per enabled, mapped package.
    pub lines: Vec<SyncLine>,
    /// Decide, but write nothing.
    pub dry_run: bool,
    /// `YYYY-MM-DD`: "today" for deciding which additions are cancelled
    /// (cancelled on or before this day).
    pub effective_date: String,
    /// `YYYY-MM-DD`: the effective date of created additions (the day they
    /// start billing), e.g. today, or the first of next month.
    pub start_date: String,
    /// Update quantities of existing additions (`user-counts`).
    pub update_quantities: bool,
    /// Create missing additions (`packages`).
    pub create_missing: bool,
}

/// What happened to one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum LineOutcome {
    /// An addition was (or, in a dry run, would be) created.
    Created,
    /// The addition's quantity was (would be) changed from this.
    Updated {
        /// The quantity before.
        previous_quantity: f64,
    },
    /// The addition already had the quantity.
    Unchanged,
    /// Several active additions (their ids), or several lines for one
    /// product (no ids): nothing written.
    Conflict(Vec<u32>),
    /// Not attempted, for this reason.
    Skipped(String),
    /// The write failed.
    Failed(ConnectorError),
}

/// The result of one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineResult {
    /// The line's package key.
    pub package_key: String,
    /// The line's product.
    pub product_id: u32,
    /// The quantity asked for.
    pub quantity: u32,
    /// What happened.
    pub outcome: LineOutcome,
    /// The addition concerned, when there is exactly one.
    pub addition_id: Option<u32>,
    /// That addition's unit price, as ConnectWise reported it.
    pub unit_price: Option<f64>,
}

/// The result of one `sync-organization` call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    /// The request's company.
    pub company_id: u32,
    /// The request's agreement.
    pub agreement_id: u32,
    /// Whether nothing was written on purpose.
    pub dry_run: bool,
    /// One result per request line, in order.
    pub lines: Vec<LineResult>,
    /// HTTP requests sent, retries included.
    pub requests: u32,
    /// Writes ConnectWise accepted.
    pub writes: u32,
}
