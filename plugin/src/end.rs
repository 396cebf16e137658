//! `end-line`: ending one agreement addition, after a person confirmed it.
//!
//! ConnectWise keeps billing history with dates: an addition stops billing
//! on its `cancelledDate`, and stays on the agreement (deleting it would
//! lose the history). So ending a line is a PATCH of `cancelledDate`, with
//! the same JSON-patch body the sync uses for a quantity.
//!
//! The addition is read first, through its agreement's path: ConnectWise
//! answers 404 for an addition of another agreement, so a line that does
//! not belong to the contract is never touched; nor is one that has already
//! ended. Two requests in all, one of them a write.

use serde_json::json;

use crate::client::Client;
use crate::error::ConnectorError;
use crate::http::{Level, Method, Transport};
use crate::query::encode_pairs;
use crate::reconcile;
use crate::wire;

/// The fields of the addition the check reads.
const FIELDS: &str = "id,product/id,quantity,effectiveDate,cancelledDate";

/// Ends addition `addition_id` of agreement `agreement_id` on `day`
/// (`YYYY-MM-DD`): sets its `cancelledDate` to `day` at midnight UTC, after
/// checking that it belongs to the agreement and is still active on `day`,
/// then checks that ConnectWise took the date (a PATCH can answer 200 and
/// change nothing).
pub fn end_addition<T: Transport>(
    client: &mut Client<'_, T>,
    agreement_id: u32,
    addition_id: u32,
    day: &str,
) -> Result<(), ConnectorError> {
    if !reconcile::is_day(day) {
        return Err(ConnectorError::InvalidConfig(format!(
            "the day {day:?} is not a day: use YYYY-MM-DD"
        )));
    }
    if agreement_id == 0 || addition_id == 0 {
        return Err(ConnectorError::InvalidConfig(
            "the agreement and addition ids must be ConnectWise ids (1 or more)".into(),
        ));
    }
    let path = format!("/finance/agreements/{agreement_id}/additions/{addition_id}");
    let what = format!("addition {addition_id} of agreement {agreement_id}");
    let query = encode_pairs(&[("fields", FIELDS.to_string())]);
    let addition: wire::Addition = match client.get_json(&path, &query, &what) {
        Ok(addition) => addition,
        // The path names the agreement: a 404 is an addition that is not
        // this agreement's (or no longer exists), never one to end.
        Err(ConnectorError::NotFound(said)) => {
            return Err(ConnectorError::NotFound(format!(
                "agreement {agreement_id} has no addition {addition_id}: it belongs to another agreement or \
                 was deleted, so nothing was changed ({said})"
            )));
        }
        Err(other) => return Err(other),
    };
    if wire::id(addition.id).is_some_and(|id| id != addition_id) {
        return Err(ConnectorError::InvalidResponse(format!(
            "ConnectWise answered another addition ({:?}) when asked for {what}; nothing was changed",
            addition.id
        )));
    }
    if let Some(ended) = addition.cancelled_date.as_deref()
        && reconcile::is_cancelled(Some(ended), day)
    {
        return Err(ConnectorError::NotFound(format!(
            "{what} is no longer active: it ended on {}, so nothing was changed",
            ended.get(..10).unwrap_or(ended)
        )));
    }
    let date = format!("{day}T00:00:00Z");
    let body = json!([{ "op": "replace", "path": "cancelledDate", "value": date }]).to_string();
    let patch = client.request(Method::Patch, &path, "", Some(body));
    let response = client.send(&patch, &what)?;
    let updated: wire::Addition = serde_json::from_slice(&response.body).unwrap_or_default();
    let took = updated
        .cancelled_date
        .as_deref()
        .is_some_and(|d| d.get(..10) == Some(day));
    if !took {
        return Err(ConnectorError::InvalidResponse(format!(
            "ConnectWise accepted the end of {what} on {day} but reports the cancelled date {}; check the \
             addition in ConnectWise",
            updated.cancelled_date.as_deref().unwrap_or("(none)")
        )));
    }
    client.log(
        Level::Info,
        &format!("{what}: ended on {day} (cancelledDate {date})"),
    );
    Ok(())
}
