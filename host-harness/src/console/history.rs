//! The tenant's history: its runs, and each run's lines.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::auth::{self, Posted, User};
use super::tenants::Done;
use super::tenants::run_status;
use super::{Console, ConsoleError, layout};
use crate::notify::{Event, shown_url};
use crate::store::{NotifierKind, RunId, SmtpSecurity, WebhookFormat};

/// How many runs the history page lists.
const RUNS_SHOWN: usize = 100;

/// How many notification deliveries it lists.
const DELIVERIES_SHOWN: usize = 10;

/// `GET /t/{tenant}/history`: the latest runs and the next scheduled one.
pub async fn runs(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let ((runs, notifiers, deliveries, smtp), may_manage) = console
        .read_tenant(&user, &tenant, |s, t| {
            Ok((
                s.list_runs(t, RUNS_SHOWN)?,
                s.notifiers(t)?,
                s.deliveries(t, DELIVERIES_SHOWN)?,
                s.smtp(t)?,
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
        (layout::notice(done.done.as_deref()))
        @if notifiers.is_empty() {
            p.muted { "No one is notified yet." }
        } @else {
            table {
                thead { tr { th { "Kind" } th { "To" } th { "Format" } th { "Events" } th {} } }
                tbody { @for n in &notifiers {
                    tr {
                        td { (n.kind.as_str()) }
                        // A webhook's path can be its secret: shown cut.
                        td { @if n.kind == NotifierKind::Webhook { (shown_url(&n.target)) } @else { (n.target) } }
                        td { (n.format.as_str()) }
                        td { (n.events.join(", ")) }
                        td { @if may_manage {
                            form.inline method="post" action=(format!("/t/{tenant}/notifiers/{}/remove", n.id)) {
                                input type="hidden" name="csrf" value=(user.csrf);
                                button.secondary type="submit" { "Remove" }
                            }
                        } }
                    }
                } }
            }
        }
        @if may_manage {
            form.stack method="post" action=(format!("/t/{tenant}/notifiers")) {
                input type="hidden" name="csrf" value=(user.csrf);
                label { "Notify" select name="kind" {
                    option value="webhook" { "a webhook (HTTPS POST)" }
                    option value="email" { "an email address" }
                } }
                label { "URL or address" input type="text" name="target" required placeholder="https://hooks.example.com/… or billing@example.com"; }
                label { "Webhook format" select name="format" {
                    option value="json" { "JSON" } option value="slack" { "Slack" } option value="teams" { "Microsoft Teams" }
                } }
                fieldset {
                    legend { "Events (none ticked: all)" }
                    @for e in Event::ALL {
                        label.check { input type="checkbox" name="events" value=(e.as_str()); (e.as_str()) }
                    }
                }
                button type="submit" { "Add" }
            }
        }
        h2 { "Email server (SMTP)" }
        @match &smtp {
            Some(m) => p { (m.host) ":" (m.port) " (" (m.security.as_str()) "), from " (m.from)
                @if let Some(u) = &m.username { ", as " (u) } @if m.password.is_some() { "; a password is saved" } "." },
            None => p.muted { "No SMTP server yet: email notifiers need one." },
        }
        @if may_manage {
            form.stack method="post" action=(format!("/t/{tenant}/smtp")) {
                input type="hidden" name="csrf" value=(user.csrf);
                label { "Host" input type="text" name="host" required value=(smtp.as_ref().map(|m| m.host.as_str()).unwrap_or_default()); }
                label { "Port" input type="text" name="port" required inputmode="numeric"
                    value=(smtp.as_ref().map_or("587".to_string(), |m| m.port.to_string())); }
                label { "Security" select name="security" {
                    @for (value, label) in [("starttls", "STARTTLS (587)"), ("tls", "TLS (465)"), ("plain", "none (a relay on this machine only)")] {
                        option value=(value) selected[smtp.as_ref().is_some_and(|m| m.security.as_str() == value)] { (label) }
                    }
                } }
                label { "From" input type="text" name="from" required value=(smtp.as_ref().map(|m| m.from.as_str()).unwrap_or_default()); }
                label { "User name" span.help { "Empty if the server needs no login." }
                    input type="text" name="username" autocomplete="off" value=(smtp.as_ref().and_then(|m| m.username.as_deref()).unwrap_or_default()); }
                label { "Password" span.help { "Write-only: leave it empty to keep the saved one." }
                    input type="password" name="password" autocomplete="new-password" value=""; }
                button type="submit" { "Save the email server" }
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

/// The add-a-notifier form; `events` is repeated, once per ticked box.
#[derive(serde::Deserialize)]
pub struct NotifierForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    events: Vec<String>,
}

/// `POST /t/{tenant}/notifiers`: checked as `notify add` checks it
/// ([`crate::notify::add_notifier`]).
pub async fn add_notifier(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    Posted { user, form }: Posted<NotifierForm>,
) -> Result<Response, ConsoleError> {
    let kind = match form.kind.as_str() {
        "webhook" => NotifierKind::Webhook,
        "email" => NotifierKind::Email,
        other => {
            return Err(ConsoleError::BadRequest(format!(
                "'{other}' is not a kind of notifier: webhook or email"
            )));
        }
    };
    let format = match form.format.as_str() {
        "slack" => WebhookFormat::Slack,
        "teams" => WebhookFormat::Teams,
        _ => WebhookFormat::Json,
    };
    console
        .change_tenant(&user, &tenant, move |s, t| {
            crate::notify::add_notifier(s, t, kind, &form.target, format, &form.events).map_err(
                |e| match e {
                    crate::notify::AddNotifierError::Store(e) => e.into(),
                    // Not echoed: a webhook URL's path can be its secret.
                    crate::notify::AddNotifierError::Invalid(
                        crate::notify::NotifyError::BadUrl { reason, .. },
                    ) => ConsoleError::BadRequest(format!(
                        "the webhook URL cannot be used: {reason}"
                    )),
                    other => ConsoleError::BadRequest(other.to_string()),
                },
            )?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/history?done=added")).into_response())
}

/// The remove button's form.
#[derive(serde::Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /t/{tenant}/notifiers/{id}/remove`.
pub async fn remove_notifier(
    State(console): State<Console>,
    Path((tenant, id)): Path<(String, i64)>,
    Posted { user, form: _ }: Posted<RemoveForm>,
) -> Result<Response, ConsoleError> {
    console
        .change_tenant(&user, &tenant, move |s, t| Ok(s.remove_notifier(t, id)?))
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/history?done=saved")).into_response())
}

/// The SMTP form; an empty password keeps the saved one.
#[derive(serde::Deserialize)]
pub struct SmtpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    security: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /t/{tenant}/smtp`: checked as `notify smtp` checks it
/// ([`crate::notify::smtp_settings`]).
pub async fn save_smtp(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    Posted { user, form }: Posted<SmtpForm>,
) -> Result<Response, ConsoleError> {
    let port: u16 = form.port.trim().parse().map_err(|_| {
        ConsoleError::BadRequest(format!(
            "the SMTP port {:?} is not a port number: usually 587 (STARTTLS) or 465 (TLS)",
            form.port.trim()
        ))
    })?;
    let security = match form.security.as_str() {
        "tls" => SmtpSecurity::Tls,
        "plain" => SmtpSecurity::Plain,
        _ => SmtpSecurity::StartTls,
    };
    console
        .change_tenant(&user, &tenant, move |s, t| {
            let password = match form.password.is_empty() {
                false => Some(form.password),
                // Write-only: an empty field keeps what is saved.
                true => s.smtp(t)?.and_then(|m| m.password),
            };
            let username = Some(form.username.trim().to_owned());
            let settings = crate::notify::smtp_settings(
                &form.host, port, security, &form.from, username, password,
            )
            .map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
            Ok(s.set_smtp(t, &settings)?)
        })
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/history?done=saved")).into_response())
}

auth::csrf_forms!(NotifierForm, RemoveForm, SmtpForm);
