//! Agreements: `GET /finance/agreements`.

use crate::client::Client;
use crate::error::ConnectorError;
use crate::http::{Level, Transport};
use crate::model::Agreement;
use crate::query::ListQuery;
use crate::wire;

const FIELDS: &[&str] = &[
    "id",
    "name",
    "company",
    "type",
    "agreementStatus",
    "cancelledFlag",
    "startDate",
    "endDate",
];

/// Every agreement, or those of one company, ordered by id. Cancelled
/// agreements are listed (flagged) so a host can explain why one cannot be
/// mapped.
pub fn list_agreements<T: Transport>(
    client: &mut Client<'_, T>,
    company_id: Option<u32>,
) -> Result<Vec<Agreement>, ConnectorError> {
    let mut query = ListQuery::new(FIELDS);
    let what = match company_id {
        Some(id) => {
            query = query.with_conditions(format!("company/id={id}"));
            format!("the agreements of company {id}")
        }
        None => "the agreements".to_string(),
    };
    let items: Vec<wire::Agreement> = client.get_all("/finance/agreements", &query, &what)?;
    let mut agreements = Vec::with_capacity(items.len());
    for item in items {
        let (Some(id), Some(company)) = (
            wire::id(item.id),
            wire::id(item.company.as_ref().and_then(|c| c.id)),
        ) else {
            client.log(
                Level::Warn,
                "skipped an agreement without a valid id or company",
            );
            continue;
        };
        let status = item.agreement_status;
        let cancelled =
            item.cancelled_flag.unwrap_or(false) || status.as_deref() == Some("Cancelled");
        agreements.push(Agreement {
            id,
            name: item.name.unwrap_or_default(),
            company_id: company,
            agreement_type: item.agreement_type.and_then(|t| t.name),
            status,
            cancelled,
            start_date: item.start_date,
            end_date: item.end_date,
        });
    }
    Ok(agreements)
}
