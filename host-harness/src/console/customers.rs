//! The wizard's fifth step: each vendor organization mapped to a company
//! and one of its contracts (ConnectWise: agreements), its sync switch,
//! and suggested matches to accept one by one or all the confident ones.
//!
//! The list pages and searches on the server (1,000 organizations are
//! 20 pages); the company picker searches as you type.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::auth::{self, Posted, User};
use super::catalog::matches;
use super::products::{SwitchForm, refresh_button, switch};
use super::{Console, ConsoleError, layout};
use crate::mapping::{self, suggest::CONFIDENT_SCORE};
use crate::store::{OrgView, Store};

/// Organizations per page.
pub const PAGE_SIZE: usize = 50;

/// `?q=&page=&unmapped=`.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: usize,
    #[serde(default)]
    unmapped: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

fn users(org: &OrgView) -> u64 {
    org.usage.values().map(|&n| u64::from(n)).sum()
}

/// `GET /t/{tenant}/customers`.
pub async fn page(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let (orgs, may_manage) = console
        .read_tenant(&user, &tenant, |s, t| Ok(s.list_orgs(t)?))
        .await?;
    let mapped = orgs.iter().filter(|o| o.mapping.is_some()).count();
    let total = orgs.len();
    let only_unmapped = query.unmapped.is_some();
    let shown: Vec<&OrgView> = orgs
        .iter()
        .filter(|o| !only_unmapped || o.mapping.is_none())
        .filter(|o| {
            matches(
                &query.q,
                &[&o.name, &o.org_id, o.domain.as_deref().unwrap_or("")],
            )
        })
        .collect();
    let pages = shown.len().div_ceil(PAGE_SIZE).max(1);
    let page = query.page.min(pages - 1);
    let here = format!("/t/{tenant}/customers");
    let link = |page: usize| {
        let mut url = format!("{here}?page={page}&q={}", layout::seg(&query.q));
        if only_unmapped {
            url.push_str("&unmapped=1");
        }
        url
    };
    let contract = &console.description().contract_noun;
    let body = html! {
        h1 { "Customers" }
        (layout::notice(query.done.as_deref()))
        p { (mapped) " of " (total) " organizations are mapped to a company and " (contract) "." }
        @if may_manage && mapped < total {
            p { a href=(format!("/t/{tenant}/suggestions")) { "Suggest matches for the unmapped organizations" } }
        }
        form.search method="get" action=(here) {
            input type="search" name="q" value=(query.q) placeholder="name, id or domain";
            label.check { input type="checkbox" name="unmapped" value="1" checked[only_unmapped]; "unmapped only" }
            button.secondary type="submit" { "Filter" }
        }
        @if shown.is_empty() {
            p.muted { @if total == 0 { "No organization yet: " a href=(format!("/t/{tenant}/usage")) { "upload the usage" } " first." } @else { "No organization matches." } }
        } @else {
            table {
                thead { tr { th { "Organization" } th.num { "Active users" } th { "Company" } th { (capitalized(contract)) } th { "Sync" } th {} } }
                tbody { @for o in shown.iter().skip(page * PAGE_SIZE).take(PAGE_SIZE) {
                    tr {
                        td { (o.name) br; span.muted { (o.org_id) } }
                        td.num { (users(o)) }
                        @match &o.mapping {
                            Some(m) => {
                                td { (m.company_name.as_deref().unwrap_or("")) " " span.muted { "#" (m.company_id) } }
                                td { (m.agreement_name.as_deref().unwrap_or("")) " " span.muted { "#" (m.agreement_id) } }
                            }
                            None => { td.muted { "not mapped" } td {} }
                        }
                        td { (switch(&user, &format!("{here}/{}/switch", layout::seg(&o.org_id)), o.enabled, may_manage)) }
                        td { @if may_manage {
                            a href=(format!("{here}/{}", layout::seg(&o.org_id))) { @if o.mapping.is_some() { "Change" } @else { "Choose" } }
                        } }
                    }
                } }
            }
            @if pages > 1 {
                nav.pages aria-label="Pages" {
                    @if page > 0 { a href=(link(page - 1)) { "← Previous" } " " }
                    "Page " (page + 1) " of " (pages)
                    @if page + 1 < pages { " " a href=(link(page + 1)) { "Next →" } }
                }
            }
        }
    };
    Ok(layout::page(&user, "Customers", Some((&tenant, "customers")), body).into_response())
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `?q=&company=` of the organization picker.
#[derive(Deserialize, Default)]
pub struct PickQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    company: Option<i64>,
}

/// The organization, if the account may change the tenant.
fn org_to_map(
    store: &Store,
    user: &User,
    tenant: &str,
    org: &str,
) -> Result<OrgView, ConsoleError> {
    user.require_manage(store, tenant)?;
    store
        .list_orgs(tenant)?
        .into_iter()
        .find(|o| o.org_id == org)
        .ok_or(ConsoleError::NotFound)
}

/// `GET /t/{tenant}/customers/{org}?q=&company=`: pick a company, then one
/// of its contracts.
pub async fn picker(
    State(console): State<Console>,
    user: User,
    Path((tenant, org)): Path<(String, String)>,
    Query(pick): Query<PickQuery>,
) -> Result<Response, ConsoleError> {
    let (u, t, o) = (user.clone(), tenant.clone(), org.clone());
    let view = console
        .with_store(move |s| org_to_map(s, &u, &t, &o))
        .await?;
    let catalog = console.catalog(&tenant).await?;
    // The search starts from the organization's name.
    let q = if pick.q.is_empty() && pick.company.is_none() {
        view.name.clone()
    } else {
        pick.q.clone()
    };
    let (found, total) = catalog.companies_matching(&q);
    let here = format!("/t/{tenant}/customers/{}", layout::seg(&org));
    let noun = &console.description().contract_noun;
    let chosen = pick.company.and_then(|id| catalog.company(id));
    let current = view.mapping.as_ref().map(|m| m.agreement_id);
    let body = html! {
        h1 { "Company and " (noun) " for " (view.name) }
        p.muted { (view.org_id) @if let Some(d) = &view.domain { ", " (d) } }
        (refresh_button(&user, &tenant, &here))
        @match chosen {
            None => {
                form.search method="get" action=(here) {
                    label { "Search the companies" span.help { (catalog.companies.len()) " companies, read " (catalog.read_at.format("%H:%M UTC")) "." }
                        input type="search" name="q" value=(q) placeholder="name, identifier or domain" autofocus
                            hx-get=(here) hx-trigger="input changed delay:250ms, search" hx-target="#matches" hx-select="#matches" hx-swap="outerHTML";
                    }
                    button.secondary type="submit" { "Search" }
                }
                div #matches {
                    p.help { (total) " companies match" @if total > found.len() { "; the first " (found.len()) " are shown" } "." }
                    table {
                        thead { tr { th { "Company" } th { "Identifier" } th { "Domain" } th {} } }
                        tbody { @for c in &found {
                            tr {
                                td { (c.name) }
                                td { (c.identifier) }
                                td { (c.domain.as_deref().unwrap_or("")) }
                                td { a href=(format!("{here}?company={}", c.id)) { "Choose " (c.name) } }
                            }
                        } }
                    }
                }
            }
            Some(company) => {
                @let contracts = catalog.open_contracts(company.id);
                h2 { (company.name) " " span.muted { "#" (company.id) } }
                p { a href=(here) { "Choose another company" } }
                @if contracts.is_empty() {
                    p.error { (company.name) " has no open " (noun) ": create one in the PSA, then read the lists again." }
                } @else {
                    form.stack method="post" action=(here) {
                        input type="hidden" name="csrf" value=(user.csrf);
                        input type="hidden" name="company" value=(company.id);
                        table {
                            thead { tr { th {} th { (capitalized(noun)) } th { "Type" } th { "Status" } } }
                            tbody { @for a in &contracts {
                                tr {
                                    td { input type="radio" name="agreement" value=(a.id) id=(format!("agreement-{}", a.id)) checked[current == Some(a.id)] required; }
                                    td { label.check for=(format!("agreement-{}", a.id)) { (a.name) } }
                                    td { (a.contract_type.as_deref().unwrap_or("")) }
                                    td { (a.status.as_deref().unwrap_or("")) }
                                }
                            } }
                        }
                        button type="submit" { "Map " (view.name) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&user, "Customer", Some((&tenant, "customers")), body).into_response())
}

/// The mapping form.
#[derive(Deserialize)]
pub struct MapForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    agreement: String,
    /// Where to go afterwards: `suggestions` back to the suggestions.
    #[serde(default)]
    then: String,
}

/// `POST /t/{tenant}/customers/{org}`: maps the organization after
/// checking both in the PSA ([`mapping::map_org`]).
pub async fn map(
    State(console): State<Console>,
    Path((tenant, org)): Path<(String, String)>,
    Posted { user, form }: Posted<MapForm>,
) -> Result<Response, ConsoleError> {
    let id = |text: &str, what: &str| {
        text.trim().parse::<i64>().map_err(|_| {
            ConsoleError::BadRequest(format!(
                "choose a {what} in the list, then map the organization"
            ))
        })
    };
    let company = id(&form.company, "company")?;
    let noun = console.description().contract_noun.clone();
    let agreement = id(&form.agreement, &noun)?;
    let t = tenant.clone();
    console
        .with_store_async(move |store, console| async move {
            org_to_map(&store, &user, &t, &org)?;
            let connected = console.connected(&store, &t).await?;
            mapping::map_org(&store, &t, &connected, &org, company, agreement).await?;
            Ok(())
        })
        .await?;
    let next = if form.then == "suggestions" {
        "suggestions"
    } else {
        "customers"
    };
    Ok(Redirect::to(&format!("/t/{tenant}/{next}?done=mapped")).into_response())
}

/// `POST /t/{tenant}/customers/{org}/switch`.
pub async fn switch_org(
    State(console): State<Console>,
    Path((tenant, org)): Path<(String, String)>,
    Posted { user, form }: Posted<SwitchForm>,
) -> Result<Response, ConsoleError> {
    console
        .change_tenant(&user, &tenant, move |s, t| {
            Ok(s.set_org_enabled(t, &org, form.enabled)?)
        })
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/customers?done=saved")).into_response())
}

/// `GET /t/{tenant}/suggestions`: a company and contract suggested for
/// each unmapped organization, from one read of the PSA's companies and
/// contracts ([`mapping::suggest_mappings`]).
pub async fn suggestions(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
    Query(done): Query<super::tenants::Done>,
) -> Result<Response, ConsoleError> {
    let (u, t) = (user.clone(), tenant.clone());
    let suggestions = console
        .with_store_async(move |store, console| async move {
            u.require_manage(&store, &t)?;
            let connected = console.connected(&store, &t).await?;
            Ok(mapping::suggest_mappings(&store, &t, &connected, &[], None).await?)
        })
        .await?;
    let confident = suggestions
        .iter()
        .filter(|s| s.confident && s.agreement.is_some())
        .count();
    let noun = &console.description().contract_noun;
    let body = html! {
        h1 { "Suggested matches" }
        (layout::notice(done.done.as_deref()))
        @if suggestions.is_empty() {
            p { "Every organization is mapped. " a href=(format!("/t/{tenant}/customers")) { "Back to the customers" } }
        } @else {
            p { (suggestions.len()) " unmapped organizations; " (confident) " with a confident match." }
            @if confident > 0 {
                form.inline method="post" action=(format!("/t/{tenant}/suggestions/accept")) {
                    input type="hidden" name="csrf" value=(user.csrf);
                    button type="submit" { "Accept all " (confident) " confident matches" }
                }
            }
            table {
                thead { tr { th { "Organization" } th { "Suggested company" } th { (capitalized(noun)) } th { "Why" } th {} } }
                tbody { @for s in &suggestions {
                    tr {
                        td { (s.org_name) br; span.muted { (s.org_id) } }
                        td { @match &s.best {
                            Some(b) => { (b.company_name) " " span.muted { "score " (format!("{:.2}", b.score)) } @if s.confident { " " strong { "confident" } } }
                            None => span.muted { "none found" },
                        } }
                        td { @match &s.agreement {
                            Some((_, name)) => (name),
                            None => span.muted { (s.agreement_reason) },
                        } }
                        td.help { (s.reason) }
                        td {
                            @if let (Some(b), Some((agreement, _))) = (&s.best, &s.agreement) {
                                form.inline method="post" action=(format!("/t/{tenant}/customers/{}", layout::seg(&s.org_id))) {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    input type="hidden" name="company" value=(b.company_id);
                                    input type="hidden" name="agreement" value=(agreement);
                                    input type="hidden" name="then" value="suggestions";
                                    button.secondary type="submit" { "Accept" }
                                }
                                " "
                            }
                            a href=(format!("/t/{tenant}/customers/{}", layout::seg(&s.org_id))) { "Choose…" }
                        }
                    }
                } }
            }
        }
    };
    Ok(layout::page(&user, "Suggestions", Some((&tenant, "customers")), body).into_response())
}

/// The accept-all form.
#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /t/{tenant}/suggestions/accept`: maps every confident suggestion
/// that has a contract, in one transaction ([`mapping::apply_suggestions`]).
pub async fn accept_confident(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    Posted { user, form: _ }: Posted<AcceptForm>,
) -> Result<Response, ConsoleError> {
    let t = tenant.clone();
    console
        .with_store_async(move |store, console| async move {
            user.require_manage(&store, &t)?;
            let connected = console.connected(&store, &t).await?;
            let suggestions = mapping::suggest_mappings(&store, &t, &connected, &[], None).await?;
            mapping::apply_suggestions(
                &store,
                &t,
                console.description(),
                &suggestions,
                CONFIDENT_SCORE,
            )?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/suggestions?done=mapped")).into_response())
}

auth::csrf_forms!(MapForm, AcceptForm);
