//! The connector's data, one Rust type per WIT type of `seatsync:psa/types`.
//!
//! The connector's logic works on these plain types so that it builds and is
//! tested on the native target; the component glue (`component.rs`) converts
//! them to and from the generated WIT bindings at the boundary.

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
    pub id: u32,
    pub identifier: String,
    pub description: String,
    pub inactive: bool,
    pub price: Option<f64>,
    pub cost: Option<f64>,
    pub taxable: bool,
    pub product_class: Option<String>,
}

/// A customer company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Company {
    pub id: u32,
    pub identifier: String,
    pub name: String,
    pub status: Option<String>,
    pub deleted: bool,
}

/// An agreement with a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agreement {
    pub id: u32,
    pub name: String,
    pub company_id: u32,
    pub agreement_type: Option<String>,
    pub status: Option<String>,
    pub cancelled: bool,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

/// How an addition is billed to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BillCustomer {
    Billable,
    DoNotBill,
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
    pub package_key: String,
    pub product_id: u32,
    pub quantity: u32,
    pub bill_customer: BillCustomer,
    pub taxable: bool,
    pub description: Option<String>,
}

/// Everything `sync-organization` needs for one organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRequest {
    pub company_id: u32,
    pub agreement_id: u32,
    pub lines: Vec<SyncLine>,
    pub dry_run: bool,
    /// `YYYY-MM-DD`: the start of created additions, and "today" for
    /// deciding which additions are cancelled.
    pub effective_date: String,
    pub update_quantities: bool,
    pub create_missing: bool,
}

/// What happened to one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum LineOutcome {
    Created,
    Updated { previous_quantity: f64 },
    Unchanged,
    Conflict(Vec<u32>),
    Skipped(String),
    Failed(ConnectorError),
}

/// The result of one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineResult {
    pub package_key: String,
    pub product_id: u32,
    pub quantity: u32,
    pub outcome: LineOutcome,
    pub addition_id: Option<u32>,
}

/// The result of one `sync-organization` call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    pub company_id: u32,
    pub agreement_id: u32,
    pub dry_run: bool,
    pub lines: Vec<LineResult>,
    /// HTTP requests sent, retries included.
    pub requests: u32,
    /// Writes ConnectWise accepted.
    pub writes: u32,
}
