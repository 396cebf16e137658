//! Customers: `GET /company/companies`.

use crate::client::Client;
use crate::error::ConnectorError;
use crate::http::{Level, Transport};
use crate::model::Company;
use crate::query::ListQuery;
use crate::wire;

const FIELDS: &[&str] = &[
    "id",
    "identifier",
    "name",
    "status",
    "deletedFlag",
    "website",
];

/// Every company that is not deleted, ordered by id.
///
/// Whether ConnectWise lists deleted companies by default is not documented,
/// so the connector asks for `deletedFlag=false` and also drops any deleted
/// company a server returns anyway.
pub fn list_companies<T: Transport>(
    client: &mut Client<'_, T>,
) -> Result<Vec<Company>, ConnectorError> {
    let query = ListQuery::new(FIELDS).with_conditions("deletedFlag=false");
    let items: Vec<wire::Company> =
        client.get_all("/company/companies", &query, "the companies")?;
    let mut companies = Vec::with_capacity(items.len());
    for item in items {
        let Some(id) = wire::id(item.id) else {
            client.log(Level::Warn, "skipped a company without a valid id");
            continue;
        };
        let deleted = item.deleted_flag.unwrap_or(false);
        if deleted {
            continue;
        }
        companies.push(Company {
            id,
            identifier: item.identifier.unwrap_or_default(),
            name: item.name.unwrap_or_default(),
            status: item.status.and_then(|s| s.name),
            deleted,
            website: item.website.filter(|w| !w.trim().is_empty()),
        });
    }
    Ok(companies)
}
