//! The tenant's history: its runs, and each run's lines.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::auth::User;
use super::tenants::run_status;
use super::{Console, ConsoleError, layout};
use crate::notify::shown_url;
use crate::store::{NotifierKind, RunId};

/// How many runs the history page lists.
const RUNS_SHOWN: usize = 100;

/// How many notification deliveries it lists.
const DELIVERIES_SHOWN: usize = 10;

/// `GET /t/{tenant}/history`: the latest runs and the next scheduled one.
pub async fn runs(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
) -> Result<Response, ConsoleError> {
    let ((runs, notifiers, deliveries), _) = console
        .read_tenant(&user, &tenant, |s, t| {
            Ok((
                s.list_runs(t, RUNS_SHOWN)?,
                s.notifiers(t)?,
                s.deliveries(t, DELIVERIES_SHOWN)?,
            ))
        })
        .await?;
    let next = crate::schedule::next_fire(console.now(), console.options().at);
    let body = html! {
        h1 { "History" }
        p { "Next scheduled run: " (next.format("%Y-%m-%d %H:%M UTC")) "." }
        @if runs.is_empty() {
            p.muted { "No run yet." }
        } @else {
            table {
                thead { tr {
                    th { "Run" } th { "Started" } th { "Trigger" } th { "Status" }
                    th.num { "Organizations" } th.num { "Created" } th.num { "Updated" } th.num { "Unchanged" }
                    th.num { "Conflicts" } th.num { "Failed" } th.num { "Held" } th.num { "Requests" }
                } }
                tbody {
                    @for run in &runs {
                        tr {
                            td { a href=(format!("/t/{tenant}/history/{}", run.id)) { "#" (run.id) } }
                            td { (run.started_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                            td { (run.trigger.as_str()) @if run.dry_run { " (dry run)" } }
                            td { (run_status(run)) }
                            td.num { (run.totals.orgs) }
                            td.num { (run.totals.created) }
                            td.num { (run.totals.updated) }
                            td.num { (run.totals.unchanged) }
                            td.num { (run.totals.conflicts) }
                            td.num { (run.totals.failed + run.totals.orgs_failed) }
                            td.num { (run.totals.held) }
                            td.num { (run.totals.requests) }
                        }
                    }
                }
            }
        }
        h2 { "Notifications" }
        @if notifiers.is_empty() {
            p.muted { "No one is notified. " code { "seatsync --tenant " (tenant) " notify add webhook URL" } " or "
                code { "notify add email ADDRESS" } " adds a webhook or an email." }
        } @else {
            table {
                thead { tr { th { "Kind" } th { "To" } th { "Events" } } }
                tbody { @for n in &notifiers {
                    tr {
                        td { (n.kind.as_str()) }
                        // A webhook's path can be its secret: shown cut.
                        td { @if n.kind == NotifierKind::Webhook { (shown_url(&n.target)) } @else { (n.target) } }
                        td { (n.events.join(", ")) }
                    }
                } }
            }
        }
        @if !deliveries.is_empty() {
            table {
                thead { tr { th { "Sent" } th { "To" } th { "Events" } th { "State" } th.num { "Attempts" } th { "Error" } } }
                tbody { @for d in &deliveries {
                    tr {
                        td { (d.at.format("%Y-%m-%d %H:%M UTC")) }
                        td { (d.target) }
                        td { (d.events.join(", ")) }
                        td { (d.state.as_str()) }
                        td.num { (d.attempts) }
                        td { (d.error.as_deref().unwrap_or("")) }
                    }
                } }
            }
        }
    };
    Ok(layout::page(&user, "History", Some((&tenant, "history")), body).into_response())
}

/// `GET /t/{tenant}/history/{run}`: one run's lines. A run of another
/// tenant is "not found", as one that does not exist.
pub async fn run(
    State(console): State<Console>,
    user: User,
    Path((tenant, run)): Path<(String, i64)>,
) -> Result<Response, ConsoleError> {
    let ((run, lines), _) = console
        .read_tenant(&user, &tenant, move |s, t| {
            let run = s
                .run(RunId(run))?
                .filter(|r| r.tenant == t)
                .ok_or(ConsoleError::NotFound)?;
            let lines = s.run_lines(run.id)?;
            Ok((run, lines))
        })
        .await?;
    let id = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let body = html! {
        h1 { "Run #" (run.id) }
        p {
            (run_status(&run)) ", started " (run.started_at.format("%Y-%m-%d %H:%M:%S UTC"))
            @if let Some(done) = run.finished_at { ", finished " (done.format("%H:%M:%S UTC")) }
            "; " (run.trigger.as_str()) @if run.dry_run { ", dry run" } "."
        }
        @if let Some(message) = &run.message { p.error { (message) } }
        table {
            thead { tr {
                th { "Organization" } th { "Package" } th.num { "Company" } th.num { "Contract" }
                th.num { "Before" } th.num { "Quantity" } th { "Outcome" } th { "Message" }
            } }
            tbody {
                @for line in &lines {
                    tr {
                        td { (line.org_id) }
                        td { (line.package_key.as_deref().unwrap_or("")) }
                        td.num { (id(line.company_id)) }
                        td.num { (id(line.agreement_id)) }
                        td.num { (line.previous_quantity.map(|q| q.to_string()).unwrap_or_default()) }
                        td.num { (line.quantity.map(|q| q.to_string()).unwrap_or_default()) }
                        td { (line.kind.as_str()) }
                        td { (line.message.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&user, "Run", Some((&tenant, "history")), body).into_response())
}
