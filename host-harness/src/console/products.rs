//! The wizard's fourth step: each vendor package mapped to a catalog
//! product, with the connector's product options (ConnectWise: bill
//! method, taxable), and its sync switch. The picker searches the catalog
//! as you type (htmx swaps the matches in; without JavaScript the search
//! button does the same).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use seatsync_contract::OptionKind;
use serde::Deserialize;

use super::auth::{self, Posted, User};
use super::tenants::Done;
use super::{Console, ConsoleError, layout};
use crate::mapping;

/// The packages page.
pub async fn page(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let (packages, may_manage) = console
        .read_tenant(&user, &tenant, |s, t| Ok(s.list_packages(t)?))
        .await?;
    let psa = &console.description().psa;
    let body = html! {
        h1 { "Products" }
        (layout::notice(done.done.as_deref()))
        p { "Each package of the vendor is billed as one " (psa) " catalog product." }
        @if packages.is_empty() {
            p.muted { "No package yet: " a href=(format!("/t/{tenant}/usage")) { "upload the usage" } " first." }
        } @else {
            table {
                thead { tr { th { "Package" } th.num { "Organizations" } th.num { "Active users" } th { "Product" } th { "Options" } th { "Sync" } th {} } }
                tbody { @for p in &packages {
                    tr {
                        td { (p.key) }
                        td.num { (p.orgs) }
                        td.num { (p.active_users) }
                        td { @match &p.mapping {
                            Some(m) => { (m.product_identifier.as_deref().unwrap_or("")) " " span.muted { "#" (m.product_id) " " (m.product_description.as_deref().unwrap_or("")) } }
                            None => span.muted { "not mapped" },
                        } }
                        td { @if let Some(m) = &p.mapping {
                            (m.options.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))
                        } }
                        td { (switch(&user, &format!("/t/{tenant}/products/{}/switch", layout::seg(&p.key)), p.enabled, may_manage)) }
                        td { @if may_manage {
                            a href=(format!("/t/{tenant}/products/{}", layout::seg(&p.key))) { @if p.mapping.is_some() { "Change" } @else { "Choose a product" } }
                        } }
                    }
                } }
            }
        }
    };
    Ok(layout::page(&user, "Products", Some((&tenant, "products")), body).into_response())
}

/// An on/off switch: the state, and a button that flips it.
pub fn switch(user: &User, action: &str, enabled: bool, may_manage: bool) -> Markup {
    html! {
        @if enabled { "on" } @else { span.muted { "off" } }
        @if may_manage {
            " "
            form.inline method="post" action=(action) {
                input type="hidden" name="csrf" value=(user.csrf);
                input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
                button.secondary type="submit" { @if enabled { "Turn off" } @else { "Turn on" } }
            }
        }
    }
}

/// `?q=` of a picker.
#[derive(Deserialize, Default)]
pub struct Search {
    /// The search text.
    #[serde(default)]
    pub q: String,
}

/// `GET /t/{tenant}/products/{key}?q=`: the product picker.
pub async fn picker(
    State(console): State<Console>,
    user: User,
    Path((tenant, key)): Path<(String, String)>,
    Query(search): Query<Search>,
) -> Result<Response, ConsoleError> {
    let (u, t, k) = (user.clone(), tenant.clone(), key.clone());
    let current = console
        .with_store(move |s| {
            u.require_manage(s, &t)?;
            let package = s
                .list_packages(&t)?
                .into_iter()
                .find(|p| p.key == k)
                .ok_or(ConsoleError::NotFound)?;
            Ok(package.mapping)
        })
        .await?;
    let catalog = console.catalog(&tenant).await?;
    let (found, total) = catalog.products_matching(&search.q);
    let description = console.description();
    let chosen = current.as_ref().map(|m| m.product_id);
    let option_value = |key: &str, default: &str| {
        current
            .as_ref()
            .and_then(|m| m.options.get(key).cloned())
            .unwrap_or_else(|| default.to_owned())
    };
    let here = format!("/t/{tenant}/products/{}", layout::seg(&key));
    let body = html! {
        h1 { "Product for package " (key) }
        form.search method="get" action=(here) {
            label { "Search the catalog" span.help { (catalog.products.len()) " products, read " (catalog.read_at.format("%H:%M UTC")) "." }
                input type="search" name="q" value=(search.q) placeholder="identifier or description" autofocus
                    hx-get=(here) hx-trigger="input changed delay:250ms, search" hx-target="#matches" hx-select="#matches" hx-swap="outerHTML";
            }
            button.secondary type="submit" { "Search" }
        }
        (refresh_button(&user, &tenant, &here))
        form.stack method="post" action=(here) {
            input type="hidden" name="csrf" value=(user.csrf);
            div #matches {
                p.help { (total) " active products match" @if total > found.len() { "; the first " (found.len()) " are shown, type more to narrow" } "." }
                table {
                    thead { tr { th {} th { "Identifier" } th { "Description" } th.num { "Price" } } }
                    tbody { @for p in &found {
                        tr {
                            td { input type="radio" name="product" value=(p.id) id=(format!("product-{}", p.id)) checked[chosen == Some(p.id)] required; }
                            td { label.check for=(format!("product-{}", p.id)) { (p.identifier) } }
                            td { (p.description) }
                            td.num { (p.price.as_ref().map(ToString::to_string).unwrap_or_default()) }
                        }
                    } }
                }
            }
            @for o in &description.line_options {
                label { (o.label) span.help { (o.help) }
                    @let value = option_value(&o.key, &o.default_value);
                    @let name = format!("option:{}", o.key);
                    @match &o.kind {
                        OptionKind::Choice(values) => select name=(name) {
                            @for v in values { option value=(v) selected[*v == value] { (v) } }
                        },
                        OptionKind::Flag => select name=(name) {
                            option value="true" selected[value == "true"] { "yes" }
                            option value="false" selected[value == "false"] { "no" }
                        },
                        OptionKind::Text => input type="text" name=(name) value=(value);,
                    }
                }
            }
            button type="submit" { "Map package " (key) }
        }
    };
    Ok(layout::page(&user, "Product", Some((&tenant, "products")), body).into_response())
}

/// A button that reads the PSA's lists again, then comes back to `back`.
pub fn refresh_button(user: &User, tenant: &str, back: &str) -> Markup {
    html! {
        form.inline method="post" action=(format!("/t/{tenant}/catalog/refresh")) {
            input type="hidden" name="csrf" value=(user.csrf);
            input type="hidden" name="back" value=(back);
            button.secondary type="submit" { "Read the lists from the PSA again" }
        }
    }
}

/// The refresh form.
#[derive(Deserialize)]
pub struct RefreshForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    back: String,
}

/// `POST /t/{tenant}/catalog/refresh`.
pub async fn refresh(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    Posted { user, form }: Posted<RefreshForm>,
) -> Result<Response, ConsoleError> {
    console.change_tenant(&user, &tenant, |_, _| Ok(())).await?;
    console.catalogs().forget(&tenant);
    // Back to one of this tenant's pages only, never elsewhere.
    let prefix = format!("/t/{tenant}/");
    let back = if form.back.starts_with(&prefix) && !form.back.contains("//") {
        form.back
    } else {
        format!("/t/{tenant}")
    };
    Ok(Redirect::to(&back).into_response())
}

/// The mapping form: `product`, and `option:KEY` fields.
#[derive(Deserialize)]
pub struct MapForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    product: String,
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

/// `POST /t/{tenant}/products/{key}`: maps the package after checking the
/// product in a fresh read of the catalog ([`mapping::map_package`]).
pub async fn map(
    State(console): State<Console>,
    Path((tenant, key)): Path<(String, String)>,
    Posted { user, form }: Posted<MapForm>,
) -> Result<Response, ConsoleError> {
    let product: i64 = form.product.trim().parse().map_err(|_| {
        ConsoleError::BadRequest("choose a product in the list, then map the package".into())
    })?;
    let given: Vec<(String, String)> = form
        .fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("option:")?.to_owned(), v.trim().to_owned())))
        .collect();
    let (t, k) = (tenant.clone(), key.clone());
    console
        .with_store_async(move |store, console| async move {
            user.require_manage(&store, &t)?;
            let description = console.description().clone();
            let options = mapping::package_options(&description, &given)?;
            let connected = console.connected(&store, &t).await?;
            mapping::map_package(&store, &t, &connected, &k, product, options).await?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/products?done=mapped")).into_response())
}

/// A switch's form.
#[derive(Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    csrf: String,
    /// The state to switch to.
    #[serde(default)]
    pub enabled: bool,
}

/// `POST /t/{tenant}/products/{key}/switch`.
pub async fn switch_package(
    State(console): State<Console>,
    Path((tenant, key)): Path<(String, String)>,
    Posted { user, form }: Posted<SwitchForm>,
) -> Result<Response, ConsoleError> {
    console
        .change_tenant(&user, &tenant, move |s, t| {
            Ok(s.set_package_enabled(t, &key, form.enabled)?)
        })
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/products?done=saved")).into_response())
}

auth::csrf_forms!(RefreshForm, MapForm, SwitchForm);
