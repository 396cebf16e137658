//! The partner's view: its tenants, each tenant's overview (the wizard's
//! steps and where each stands), the customers' accounts and the partner
//! setting that lets a customer manage its own integration.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::{self, Posted, User};
use super::{Console, ConsoleError, layout};
use crate::store::{PlanStatus, Role, RunRecord, Store};

/// `?done=CODE` after a form.
#[derive(Deserialize, Default)]
pub struct Done {
    /// What was done.
    pub done: Option<String>,
}

/// A tenant as the list shows it.
struct TenantRow {
    name: String,
    connected: bool,
    orgs: usize,
    mapped: usize,
    last_run: Option<RunRecord>,
    customer_manages: bool,
}

fn tenant_row(store: &Store, name: String) -> Result<TenantRow, ConsoleError> {
    let orgs = store.list_orgs(&name)?;
    Ok(TenantRow {
        connected: store.connection(&name)?.is_some(),
        orgs: orgs.len(),
        mapped: orgs.iter().filter(|o| o.mapping.is_some()).count(),
        last_run: store.list_runs(&name, 1)?.into_iter().next(),
        customer_manages: store.customer_manages(&name)?,
        name,
    })
}

/// A run's status word, coloured by its class.
pub fn run_status(run: &RunRecord) -> Markup {
    let status = run.status.as_str();
    html! { span class=(format!("status-{status}")) { (status) } }
}

/// `GET /`: the owner's tenants; a customer goes straight to its own.
pub async fn home(
    State(console): State<Console>,
    user: User,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    if let Some(own) = user.own_tenant() {
        return Ok(Redirect::to(&format!("/t/{own}")).into_response());
    }
    let rows = console
        .with_store(|s| {
            s.tenants()?
                .into_iter()
                .map(|t| tenant_row(s, t))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let body = html! {
        h1 { "Tenants" }
        (layout::notice(done.done.as_deref()))
        @if rows.is_empty() {
            p { "No tenant yet. Each tenant is one integration: one PSA connection with its own mappings and history. Add the first one below." }
        } @else {
            table {
                thead { tr { th { "Tenant" } th { "Connection" } th.num { "Organizations" } th.num { "Mapped" } th { "Last run" } th { "Customer manages" } } }
                tbody {
                    @for row in &rows {
                        tr {
                            td { a href=(format!("/t/{}", row.name)) { (row.name) } }
                            td { @if row.connected { "connected" } @else { span.muted { "not connected" } } }
                            td.num { (row.orgs) }
                            td.num { (row.mapped) }
                            td { @match &row.last_run {
                                Some(run) => { (run_status(run)) " " span.muted { (run.started_at.format("%Y-%m-%d %H:%M UTC")) } }
                                None => span.muted { "never" },
                            } }
                            td { @if row.customer_manages { "yes" } @else { "no" } }
                        }
                    }
                }
            }
        }
        h2 { "Add a tenant" }
        form.stack method="post" action="/tenants" {
            input type="hidden" name="csrf" value=(user.csrf);
            label { "Name" span.help { "Letters, digits, '-', '_' or '.', e.g. the customer's short name." }
                input type="text" name="name" required pattern="[A-Za-z0-9._-]{1,64}"; }
            button type="submit" { "Add the tenant" }
        }
    };
    Ok(layout::page(&user, "Tenants", None, body).into_response())
}

/// The add-a-tenant form.
#[derive(Deserialize)]
pub struct AddTenant {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// `POST /tenants` (owner): adds a tenant and opens its connection step.
pub async fn add(
    State(console): State<Console>,
    Posted { user, form }: Posted<AddTenant>,
) -> Result<Response, ConsoleError> {
    user.require_owner()?;
    let name = form.name.trim().to_owned();
    let added = name.clone();
    console
        .with_store(move |s| Ok(s.add_tenant(&added)?))
        .await?;
    Ok(Redirect::to(&format!("/t/{name}/connection")).into_response())
}

/// What the overview shows of a tenant.
struct Overview {
    connected: bool,
    may_manage: bool,
    user_counts: bool,
    packages_on: bool,
    orgs: usize,
    orgs_mapped: usize,
    packages: usize,
    packages_mapped: usize,
    pending_plans: usize,
    last_run: Option<RunRecord>,
}

/// `GET /t/{tenant}`: the wizard's steps and where each stands.
pub async fn overview(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
) -> Result<Response, ConsoleError> {
    let (u, t) = (user.clone(), tenant.clone());
    let o = console
        .with_store(move |s| {
            u.require_tenant(s, &t)?;
            let orgs = s.list_orgs(&t)?;
            let packages = s.list_packages(&t)?;
            let types = s.data_types(&t)?;
            Ok(Overview {
                connected: s.connection(&t)?.is_some(),
                may_manage: u.may_manage(s, &t)?,
                user_counts: types.user_counts,
                packages_on: types.packages,
                orgs: orgs.len(),
                orgs_mapped: orgs.iter().filter(|o| o.mapping.is_some()).count(),
                packages: packages.len(),
                packages_mapped: packages.iter().filter(|p| p.mapping.is_some()).count(),
                pending_plans: s
                    .plans(&t, 50)?
                    .iter()
                    .filter(|p| p.status == PlanStatus::Pending)
                    .count(),
                last_run: s.list_runs(&t, 1)?.into_iter().next(),
            })
        })
        .await?;
    let on = |b: bool| if b { "on" } else { "off" };
    let next = crate::schedule::next_fire(console.now(), console.options().at);
    let body = html! {
        h1 { (tenant) }
        @if !o.may_manage { p.muted { "Read-only: your partner manages this integration." } }
        div.steps {
            section.step {
                h2 { "1. Connection" }
                @if o.connected { p { "Connected." } } @else { p.muted { "Not connected yet." } }
                a href=(format!("/t/{tenant}/connection")) { @if o.connected { "View or change" } @else { "Connect" } }
            }
            section.step {
                h2 { "2. Data to sync" }
                p { "User counts: " (on(o.user_counts)) "; packages: " (on(o.packages_on)) "." }
                a href=(format!("/t/{tenant}/data")) { "Choose" }
            }
            section.step {
                h2 { "3. Usage" }
                p { (o.orgs) " organizations, " (o.packages) " packages." }
                a href=(format!("/t/{tenant}/usage")) { "Upload usage" }
            }
            section.step {
                h2 { "4. Products" }
                p { (o.packages_mapped) " of " (o.packages) " packages mapped." }
                a href=(format!("/t/{tenant}/products")) { "Map products" }
            }
            section.step {
                h2 { "5. Customers" }
                p { (o.orgs_mapped) " of " (o.orgs) " organizations mapped." }
                a href=(format!("/t/{tenant}/customers")) { "Map customers" }
            }
            section.step {
                h2 { "6. Review" }
                p { (o.pending_plans) " plans waiting for a decision." }
                a href=(format!("/t/{tenant}/review")) { "Review" }
            }
            section.step {
                h2 { "7. History" }
                p { "Last run: " @match &o.last_run {
                    Some(run) => { (run_status(run)) ", " (run.started_at.format("%Y-%m-%d %H:%M UTC")) }
                    None => "never",
                } "." }
                p { "Next scheduled run: " (next.format("%Y-%m-%d %H:%M UTC")) "." }
                a href=(format!("/t/{tenant}/history")) { "History" }
            }
        }
    };
    Ok(layout::page(&user, &tenant, Some((&tenant, "")), body).into_response())
}

/// `GET /accounts` (owner): the accounts, a form for a customer's, and the
/// partner setting of each tenant.
pub async fn accounts(
    State(console): State<Console>,
    user: User,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    user.require_owner()?;
    let (accounts, tenants) = console
        .with_store(|s| {
            let tenants = s
                .tenants()?
                .into_iter()
                .map(|t| Ok((s.customer_manages(&t)?, t)))
                .collect::<Result<Vec<_>, ConsoleError>>()?;
            Ok((s.console_accounts()?, tenants))
        })
        .await?;
    let body = html! {
        h1 { "Accounts" }
        (layout::notice(done.done.as_deref()))
        table {
            thead { tr { th { "User name" } th { "Role" } th { "Tenant" } } }
            tbody {
                @for a in &accounts {
                    tr {
                        td { (a.username) }
                        @match &a.role {
                            Role::Owner => { td { "owner" } td.muted { "all" } }
                            Role::Customer { tenant } => { td { "customer" } td { (tenant) } }
                        }
                    }
                }
            }
        }
        h2 { "Add a customer account" }
        @if tenants.is_empty() {
            p.muted { "Add a tenant first." }
        } @else {
            form.stack method="post" action="/accounts" {
                input type="hidden" name="csrf" value=(user.csrf);
                label { "Tenant" select name="tenant" { @for (_, t) in &tenants { option value=(t) { (t) } } } }
                label { "User name" input type="text" name="username" required autocomplete="off"; }
                label { "Password" span.help { "At least " (auth::MIN_PASSWORD_LENGTH) " characters; give it to the customer." }
                    input type="password" name="password" required autocomplete="new-password"; }
                button type="submit" { "Add the account" }
            }
        }
        h2 { "Customers managing their own integration" }
        p.help { "A customer account sees only its own tenant, read-only unless allowed here." }
        table {
            thead { tr { th { "Tenant" } th { "Customer manages" } th {} } }
            tbody {
                @for (manages, t) in &tenants {
                    tr {
                        td { (t) }
                        td { @if *manages { "allowed" } @else { "read-only" } }
                        td {
                            form.inline method="post" action=(format!("/t/{t}/partner")) {
                                input type="hidden" name="csrf" value=(user.csrf);
                                input type="hidden" name="manages" value=(if *manages { "false" } else { "true" });
                                button.secondary type="submit" { @if *manages { "Make read-only" } @else { "Allow" } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&user, "Accounts", None, body).into_response())
}

/// The add-a-customer-account form.
#[derive(Deserialize)]
pub struct AddAccount {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /accounts` (owner): a customer account for an existing tenant.
pub async fn add_account(
    State(console): State<Console>,
    Posted { user, form }: Posted<AddAccount>,
) -> Result<Response, ConsoleError> {
    user.require_owner()?;
    console
        .with_store(move |s| {
            user.require_tenant(s, &form.tenant)?;
            // Hashing is slow on purpose: here, off the server's threads.
            let hash = auth::hash_password(&form.password)?;
            s.create_console_customer(&form.username, &hash, &form.tenant)?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to("/accounts?done=added").into_response())
}

/// The partner-setting form.
#[derive(Deserialize)]
pub struct PartnerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    manages: bool,
}

/// `POST /t/{tenant}/partner` (owner): lets the tenant's customers manage
/// their integration, or makes it read-only for them.
pub async fn partner(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    Posted { user, form }: Posted<PartnerForm>,
) -> Result<Response, ConsoleError> {
    user.require_owner()?;
    console
        .with_store(move |s| {
            user.require_tenant(s, &tenant)?;
            Ok(s.set_customer_manages(&tenant, form.manages)?)
        })
        .await?;
    Ok(Redirect::to("/accounts?done=saved").into_response())
}

auth::csrf_forms!(AddTenant, AddAccount, PartnerForm);
