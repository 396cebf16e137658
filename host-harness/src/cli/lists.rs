//! Listing commands: the PSA's products, companies and agreements
//! (contracts), and the tenant's packages and organizations.

use seatsync_contract::{Decimal, Product};
use serde_json::{Value, json};

use super::Context;
use super::table::{self, or_dash, yes_no};

/// `products`.
pub async fn products(ctx: &mut Context, as_json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let c = ctx.connected(&store).await?;
    let call = c.runtime.list_products(&c.policy, &c.settings).await?;
    let products = c.value(call, "listing the products failed")?;
    if as_json {
        let value: Vec<_> = products.iter().map(product_json).collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut t = table::new(&[
        "id",
        "identifier",
        "description",
        "price",
        "taxable",
        "class",
        "active",
    ]);
    for p in &products {
        t.add_row(vec![
            p.id.to_string(),
            p.identifier.clone(),
            p.description.clone(),
            or_dash(
                p.price
                    .as_ref()
                    .and_then(Decimal::to_f64)
                    .map(|v| format!("{v:.2}")),
            ),
            or_dash(p.taxable.map(yes_no)),
            or_dash(p.kind.as_ref()),
            yes_no(!p.inactive).to_string(),
        ]);
    }
    table::align_right(&mut t, &[0, 3]);
    println!("{t}\n{} products", products.len());
    Ok(())
}

/// A product as `products --json` has always shown it.
fn product_json(p: &Product) -> Value {
    json!({
        "id": p.id,
        "identifier": p.identifier,
        "description": p.description,
        "inactive": p.inactive,
        "price": p.price.as_ref().and_then(Decimal::to_f64),
        "cost": p.cost.as_ref().and_then(Decimal::to_f64),
        "taxable": p.taxable,
        "product_class": p.kind,
    })
}

/// `companies`.
pub async fn companies(ctx: &mut Context, as_json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let c = ctx.connected(&store).await?;
    let call = c.runtime.list_companies(&c.policy, &c.settings).await?;
    let companies = c.value(call, "listing the companies failed")?;
    if as_json {
        let value: Vec<_> = companies
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "identifier": c.identifier,
                    "name": c.name,
                    "status": c.status,
                    // Deleted companies are never listed.
                    "deleted": false,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut t = table::new(&["id", "identifier", "name", "status"]);
    for c in &companies {
        t.add_row(vec![
            c.id.to_string(),
            c.identifier.clone(),
            c.name.clone(),
            or_dash(c.status.as_ref()),
        ]);
    }
    table::align_right(&mut t, &[0]);
    println!("{t}\n{} companies", companies.len());
    Ok(())
}

/// `agreements [--company ID]`: the connector's contracts.
pub async fn agreements(
    ctx: &mut Context,
    company: Option<i64>,
    as_json: bool,
) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let c = ctx.connected(&store).await?;
    let call = c
        .runtime
        .list_contracts(&c.policy, &c.settings, company)
        .await?;
    let agreements = c.value(call, "listing the agreements failed")?;
    if as_json {
        let value: Vec<_> = agreements
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "name": a.name,
                    "company_id": a.company_id,
                    "agreement_type": a.contract_type,
                    "status": a.status,
                    "cancelled": a.cancelled,
                    "start_date": a.start,
                    "end_date": a.end,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut t = table::new(&["id", "name", "company", "type", "status", "start", "end"]);
    for a in &agreements {
        let status = if a.cancelled {
            "Cancelled".to_string()
        } else {
            or_dash(a.status.as_ref())
        };
        t.add_row(vec![
            a.id.to_string(),
            a.name.clone(),
            a.company_id.to_string(),
            or_dash(a.contract_type.as_ref()),
            status,
            or_dash(a.start.as_ref()),
            or_dash(a.end.as_ref()),
        ]);
    }
    table::align_right(&mut t, &[0, 2]);
    println!("{t}\n{} agreements", agreements.len());
    Ok(())
}

/// `packages`.
pub fn packages(ctx: &Context, unmapped: bool, as_json: bool) -> anyhow::Result<()> {
    let mut packages = ctx.store()?.list_packages(&ctx.tenant)?;
    if unmapped {
        packages.retain(|p| p.mapping.is_none());
    }
    if as_json {
        let value: Vec<_> = packages
            .iter()
            .map(|p| {
                json!({
                    "key": p.key,
                    "enabled": p.enabled,
                    "product_id": p.mapping.as_ref().map(|m| m.product_id),
                    "product_identifier": p.mapping.as_ref().and_then(|m| m.product_identifier.clone()),
                    // The ConnectWise options under the names this output
                    // has always had; every option under `options`.
                    "bill": p.mapping.as_ref().and_then(|m| m.options.get("bill-method")),
                    "taxable": p.mapping.as_ref().and_then(|m| m.options.get("taxable")).map(|t| t != "false"),
                    "options": p.mapping.as_ref().map(|m| &m.options),
                    "orgs": p.orgs,
                    "active_users": p.active_users,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut t = table::new(&["package", "sync", "product", "options", "orgs", "users"]);
    for p in &packages {
        let (product, options) = match &p.mapping {
            Some(m) => (
                format!(
                    "{} {}",
                    m.product_id,
                    m.product_identifier.as_deref().unwrap_or("")
                )
                .trim()
                .to_string(),
                m.options
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            None => ("(not mapped)".into(), "-".into()),
        };
        t.add_row(vec![
            p.key.clone(),
            if p.enabled { "on" } else { "off" }.into(),
            product,
            or_dash(Some(options).filter(|o| !o.is_empty())),
            p.orgs.to_string(),
            p.active_users.to_string(),
        ]);
    }
    table::align_right(&mut t, &[4, 5]);
    println!("{t}");
    if packages.is_empty() {
        println!("No packages yet: import usage with `seatsync usage import FILE`.");
    }
    Ok(())
}

/// `orgs`.
pub fn orgs(ctx: &Context, unmapped: bool, missing: bool, as_json: bool) -> anyhow::Result<()> {
    let mut orgs = ctx.store()?.list_orgs(&ctx.tenant)?;
    if unmapped {
        orgs.retain(|o| o.mapping.is_none());
    }
    if missing {
        orgs.retain(|o| o.mapping.is_some() && o.enabled && o.usage.is_empty());
    }
    if as_json {
        let value: Vec<_> = orgs
            .iter()
            .map(|o| {
                json!({
                    "org_id": o.org_id,
                    "name": o.name,
                    "enabled": o.enabled,
                    "company_id": o.mapping.as_ref().map(|m| m.company_id),
                    "agreement_id": o.mapping.as_ref().map(|m| m.agreement_id),
                    "usage": o.usage,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut t = table::new(&[
        "org",
        "name",
        "sync",
        "company",
        "agreement",
        "active users",
    ]);
    for o in &orgs {
        let (company, agreement) = match &o.mapping {
            Some(m) => (
                format!(
                    "{} {}",
                    m.company_id,
                    m.company_name.as_deref().unwrap_or("")
                )
                .trim()
                .to_string(),
                format!(
                    "{} {}",
                    m.agreement_id,
                    m.agreement_name.as_deref().unwrap_or("")
                )
                .trim()
                .to_string(),
            ),
            None => ("(not mapped)".into(), "-".into()),
        };
        let usage = o
            .usage
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        t.add_row(vec![
            o.org_id.clone(),
            o.name.clone(),
            if o.enabled { "on" } else { "off" }.into(),
            company,
            agreement,
            if usage.is_empty() { "-".into() } else { usage },
        ]);
    }
    println!("{t}");
    if orgs.is_empty() {
        println!("No organizations yet: import usage with `seatsync usage import FILE`.");
    }
    Ok(())
}
