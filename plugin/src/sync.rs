//! `sync-organization`: read the agreement's additions once, plan, write.
//!
//! The cost of a sync is what ConnectWise throttles on, so it is kept to the
//! minimum: one read for the whole organization, then one write per line that
//! needs one. An organization whose counts did not change costs exactly one
//! request.

use serde_json::json;

use crate::client::{Client, SendError};
use crate::error::ConnectorError;
use crate::http::{Level, Method, Transport};
use crate::model::{LineOutcome, LineResult, SyncLine, SyncReport, SyncRequest};
use crate::query::{ListQuery, id_in};
use crate::reconcile::{self, Action, ActiveAddition};
use crate::wire;

/// The fields of an addition the sync reads.
const FIELDS: &[&str] = &[
    "id",
    "product/id",
    "quantity",
    "effectiveDate",
    "cancelledDate",
    // Not for the decision: a host shows the money a change makes.
    "unitPrice",
];

/// How many times a create is attempted when each attempt ends ambiguously
/// and a re-read shows it was not applied.
const MAX_CREATE_ATTEMPTS: u32 = 3;

/// Makes the agreement's additions match `request` (see the WIT docs).
pub fn sync_organization<T: Transport>(
    client: &mut Client<'_, T>,
    request: &SyncRequest,
) -> Result<SyncReport, ConnectorError> {
    validate(request)?;
    let mut report = SyncReport {
        company_id: request.company_id,
        agreement_id: request.agreement_id,
        dry_run: request.dry_run,
        lines: Vec::with_capacity(request.lines.len()),
        requests: 0,
        writes: 0,
    };
    if request.lines.is_empty() {
        return Ok(report);
    }

    let products = request.lines.iter().map(|l| l.product_id);
    let additions = read_additions(client, request, products)?;
    let active = reconcile::active_additions(&additions, &request.effective_date);
    let actions = reconcile::plan(request, &active);

    let mut fatal: Option<ConnectorError> = None;
    for (line, action) in request.lines.iter().zip(actions) {
        let (outcome, addition_id) = match (&fatal, request.dry_run) {
            (Some(error), _) => (
                LineOutcome::Skipped(format!("not attempted after an earlier error: {error}")),
                None,
            ),
            (None, true) => preview(action),
            (None, false) => apply(client, request, line, action),
        };
        if let LineOutcome::Failed(error) = &outcome
            && error.is_fatal_for_call()
        {
            fatal = Some(error.clone());
        }
        log_outcome(client, request, line, &outcome, addition_id);
        let unit_price = addition_id.and_then(|id| {
            additions
                .iter()
                .find(|a| wire::id(a.id) == Some(id))
                .and_then(|a| a.unit_price)
        });
        report.lines.push(LineResult {
            package_key: line.package_key.clone(),
            product_id: line.product_id,
            quantity: line.quantity,
            outcome,
            addition_id,
            unit_price,
        });
    }
    report.requests = client.requests();
    report.writes = client.writes();
    Ok(report)
}

fn validate(request: &SyncRequest) -> Result<(), ConnectorError> {
    let invalid = |m: String| Err(ConnectorError::InvalidConfig(m));
    if !reconcile::is_day(&request.effective_date) {
        return invalid(format!(
            "the effective date {:?} is not a day: use YYYY-MM-DD",
            request.effective_date
        ));
    }
    if !reconcile::is_day(&request.start_date) {
        return invalid(format!(
            "the start date {:?} is not a day: use YYYY-MM-DD",
            request.start_date
        ));
    }
    if request.agreement_id == 0 || request.company_id == 0 {
        return invalid("the company and agreement ids must be ConnectWise ids (1 or more)".into());
    }
    if let Some(line) = request.lines.iter().find(|l| l.product_id == 0) {
        return invalid(format!(
            "the package {:?} has product id 0: map it to a ConnectWise product",
            line.package_key
        ));
    }
    Ok(())
}

/// The agreement's additions for `products` that may be billing: not
/// cancelled, or cancelled after the sync's day. The cancelled-date filter
/// only trims the response; `reconcile` decides again in code.
fn read_additions<T: Transport>(
    client: &mut Client<'_, T>,
    request: &SyncRequest,
    products: impl IntoIterator<Item = u32>,
) -> Result<Vec<wire::Addition>, ConnectorError> {
    let conditions = format!(
        "{} and (cancelledDate=null or cancelledDate>[{}T00:00:00Z])",
        id_in("product/id", products),
        request.effective_date
    );
    let query = ListQuery::new(FIELDS).with_conditions(conditions);
    let what = format!("the additions of agreement {}", request.agreement_id);
    client.get_all(&additions_path(request.agreement_id), &query, &what)
}

fn additions_path(agreement_id: u32) -> String {
    format!("/finance/agreements/{agreement_id}/additions")
}

/// A dry run's outcome: what [`apply`] would do.
fn preview(action: Action) -> (LineOutcome, Option<u32>) {
    match action {
        Action::Create => (LineOutcome::Created, None),
        Action::Update {
            addition_id,
            previous,
        } => (
            LineOutcome::Updated {
                previous_quantity: previous,
            },
            Some(addition_id),
        ),
        Action::Unchanged { addition_id } => (LineOutcome::Unchanged, Some(addition_id)),
        Action::Conflict(ids) => (LineOutcome::Conflict(ids), None),
        Action::Skip {
            reason,
            addition_id,
        } => (LineOutcome::Skipped(reason), addition_id),
    }
}

fn apply<T: Transport>(
    client: &mut Client<'_, T>,
    request: &SyncRequest,
    line: &SyncLine,
    action: Action,
) -> (LineOutcome, Option<u32>) {
    match action {
        Action::Create => create(client, request, line),
        Action::Update {
            addition_id,
            previous,
        } => match update(client, request.agreement_id, addition_id, line.quantity) {
            Ok(()) => (
                LineOutcome::Updated {
                    previous_quantity: previous,
                },
                Some(addition_id),
            ),
            Err(error) => (LineOutcome::Failed(error), Some(addition_id)),
        },
        other => preview(other),
    }
}

/// POSTs a new addition. After an ambiguous failure the product's additions
/// are read again: if the addition is there, it was created. If it is not,
/// the POST is sent again only after a 502 or 503 (the request never got
/// past the gateway); after anything else (a timeout, a lost answer) the
/// line fails and the next sync, which reads first, settles it.
fn create<T: Transport>(
    client: &mut Client<'_, T>,
    request: &SyncRequest,
    line: &SyncLine,
) -> (LineOutcome, Option<u32>) {
    let mut body = json!({
        "product": { "id": line.product_id },
        "quantity": line.quantity,
        "billCustomer": line.bill_customer.as_api_str(),
        "taxableFlag": line.taxable,
        "effectiveDate": format!("{}T00:00:00Z", request.start_date),
    });
    if let Some(description) = &line.description {
        body["invoiceDescription"] = json!(description);
    }
    let path = additions_path(request.agreement_id);
    let what = format!("a new addition on agreement {}", request.agreement_id);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let post = client.request(Method::Post, &path, "", Some(body.to_string()));
        let error = match client.send(&post, &what) {
            Ok(response) => {
                let created: Option<wire::Addition> = serde_json::from_slice(&response.body).ok();
                let id = created.and_then(|a| wire::id(a.id));
                if id.is_none() {
                    client.log(
                        Level::Warn,
                        &format!("ConnectWise created an addition on agreement {} without returning its id", request.agreement_id),
                    );
                }
                return (LineOutcome::Created, id);
            }
            Err(SendError::Failed(error)) => return (LineOutcome::Failed(error), None),
            Err(SendError::Ambiguous(error)) => error,
        };
        client.log(
            Level::Warn,
            &format!(
                "creating the addition for product {} on agreement {} may not have completed ({error}); reading the additions to see whether it was",
                line.product_id, request.agreement_id
            ),
        );
        client.backoff(attempt);
        let found = match read_additions(client, request, [line.product_id]) {
            Ok(additions) => reconcile::active_additions(&additions, &request.effective_date),
            Err(read_error) => {
                return (
                    LineOutcome::Failed(ConnectorError::Transport(format!(
                        "creating the addition may or may not have completed, and reading it back failed ({read_error}); \
                         run the sync again: it reads before it writes, so it cannot create a duplicate"
                    ))),
                    None,
                );
            }
        };
        let mine: Vec<&ActiveAddition> = found
            .iter()
            .filter(|a| a.product_id == line.product_id)
            .collect();
        match mine.as_slice() {
            [one] => {
                client.count_confirmed_write();
                return (LineOutcome::Created, Some(one.id));
            }
            // A 502 or 503 comes from in front of ConnectWise: the create
            // most likely never reached it, so it is sent again.
            [] if attempt < MAX_CREATE_ATTEMPTS && not_processed(&error) => continue,
            // A timeout, a 504, a 500 or a lost answer: ConnectWise may
            // still be working on it and the addition appear later, so
            // sending it again could create it twice. The next sync reads
            // first and creates it then if it is still missing.
            [] if !not_processed(&error) => {
                return (
                    LineOutcome::Failed(ConnectorError::Transport(format!(
                        "ConnectWise may still be creating this addition ({error}); it was not sent again, so it \
                         cannot be created twice: the next sync reads first and creates it if it is missing"
                    ))),
                    None,
                );
            }
            [] => return (LineOutcome::Failed(error), None),
            several => {
                return (
                    LineOutcome::Conflict(several.iter().map(|a| a.id).collect()),
                    None,
                );
            }
        }
    }
}

/// Whether an ambiguous failure means the request most likely never reached
/// ConnectWise's application: a 502 or 503 from the gateway in front of it.
fn not_processed(error: &ConnectorError) -> bool {
    matches!(
        error,
        ConnectorError::Remote {
            status: 502 | 503,
            ..
        }
    )
}

/// PATCHes the quantity, then checks ConnectWise really took it: a PATCH can
/// answer 200 and change nothing.
fn update<T: Transport>(
    client: &mut Client<'_, T>,
    agreement_id: u32,
    addition_id: u32,
    quantity: u32,
) -> Result<(), ConnectorError> {
    let body = json!([{ "op": "replace", "path": "quantity", "value": quantity }]).to_string();
    let path = format!("{}/{addition_id}", additions_path(agreement_id));
    let what = format!("addition {addition_id} of agreement {agreement_id}");
    let patch = client.request(Method::Patch, &path, "", Some(body));
    let response = client.send(&patch, &what)?;
    let updated: wire::Addition = serde_json::from_slice(&response.body).unwrap_or_default();
    match updated.quantity {
        Some(q) if !reconcile::same_quantity(q, quantity) => {
            Err(ConnectorError::InvalidResponse(format!(
                "ConnectWise accepted the new quantity {quantity} for {what} but reports {q}; check the addition in ConnectWise"
            )))
        }
        _ => Ok(()),
    }
}

fn log_outcome<T: Transport>(
    client: &mut Client<'_, T>,
    request: &SyncRequest,
    line: &SyncLine,
    outcome: &LineOutcome,
    addition_id: Option<u32>,
) {
    use std::fmt::Write as _;

    // Nothing to say that the report's line does not: the most common
    // outcome by far, and a log line costs the host a call and a scan for
    // secrets.
    if matches!(outcome, LineOutcome::Unchanged) {
        return;
    }
    // One string, written once: this runs for every line of every run.
    let mut text = format!(
        "agreement {} package {:?} (product {})",
        request.agreement_id, line.package_key, line.product_id
    );
    let addition = |text: &mut String| {
        text.push(':');
        if let Some(id) = addition_id {
            let _ = write!(text, " addition {id}");
        }
    };
    let would = if request.dry_run { " would be" } else { "" };
    let level = match outcome {
        LineOutcome::Created => {
            addition(&mut text);
            let _ = write!(text, "{would} created with quantity {}", line.quantity);
            Level::Info
        }
        LineOutcome::Updated { previous_quantity } => {
            addition(&mut text);
            let _ = write!(
                text,
                "{would} updated from {previous_quantity} to {}",
                line.quantity
            );
            Level::Info
        }
        LineOutcome::Unchanged => return, // not logged, see above
        LineOutcome::Conflict(ids) if ids.is_empty() => {
            text.push_str(": several packages map to this product; nothing written");
            Level::Warn
        }
        LineOutcome::Conflict(ids) => {
            let _ = write!(
                text,
                ": {} active additions {ids:?} for this product; nothing written",
                ids.len()
            );
            Level::Warn
        }
        LineOutcome::Skipped(reason) => {
            let _ = write!(text, ": skipped: {reason}");
            Level::Info
        }
        LineOutcome::Failed(error) => {
            let _ = write!(text, ": failed: {error}");
            Level::Error
        }
    };
    client.log(level, &text);
}
