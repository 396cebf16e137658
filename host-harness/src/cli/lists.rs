//! Listing commands: ConnectWise's products, companies and agreements, and
//! the tenant's packages and organizations.

use serde_json::json;

use super::table::{self, or_dash, yes_no};
use super::{Context, connector_value};
use crate::store::bill_method_name;

/// `products`.
pub async fn products(ctx: &mut Context, as_json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let (stored, site) = ctx.connection(&store)?;
    let conn = stored.connector_connection();
    let call = ctx.runtime()?.list_products(&site, &conn).await?;
    let products = connector_value(call, "listing the products failed", &conn)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&products)?);
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
            or_dash(p.price.map(|v| format!("{v:.2}"))),
            yes_no(p.taxable).to_string(),
            or_dash(p.product_class.as_ref()),
            yes_no(!p.inactive).to_string(),
        ]);
    }
    table::align_right(&mut t, &[0, 3]);
    println!("{t}\n{} products", products.len());
    Ok(())
}

/// `companies`.
pub async fn companies(ctx: &mut Context, as_json: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let (stored, site) = ctx.connection(&store)?;
    let conn = stored.connector_connection();
    let call = ctx.runtime()?.list_companies(&site, &conn).await?;
    let companies = connector_value(call, "listing the companies failed", &conn)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&companies)?);
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

/// `agreements [--company ID]`.
pub async fn agreements(
    ctx: &mut Context,
    company: Option<u32>,
    as_json: bool,
) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let (stored, site) = ctx.connection(&store)?;
    let conn = stored.connector_connection();
    let call = ctx
        .runtime()?
        .list_agreements(&site, &conn, company)
        .await?;
    let agreements = connector_value(call, "listing the agreements failed", &conn)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&agreements)?);
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
            or_dash(a.agreement_type.as_ref()),
            status,
            or_dash(a.start_date.as_deref().map(day)),
            or_dash(a.end_date.as_deref().map(day)),
        ]);
    }
    table::align_right(&mut t, &[0, 2]);
    println!("{t}\n{} agreements", agreements.len());
    Ok(())
}

/// The day of a ConnectWise date-time.
fn day(date: &str) -> &str {
    date.get(..10).unwrap_or(date)
}

/// `packages`.
pub fn packages(ctx: &Context, as_json: bool) -> anyhow::Result<()> {
    let packages = ctx.store()?.list_packages(&ctx.tenant)?;
    if as_json {
        let value: Vec<_> = packages
            .iter()
            .map(|p| {
                json!({
                    "key": p.key,
                    "enabled": p.enabled,
                    "product_id": p.mapping.as_ref().map(|m| m.product_id),
                    "product_identifier": p.mapping.as_ref().and_then(|m| m.product_identifier.clone()),
                    "bill": p.mapping.as_ref().map(|m| bill_method_name(m.bill_method)),
                    "taxable": p.mapping.as_ref().map(|m| m.taxable),
                    "orgs": p.orgs,
                    "active_users": p.active_users,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut t = table::new(&["package", "sync", "product", "bill", "tax", "orgs", "users"]);
    for p in &packages {
        let (product, bill, tax) = match &p.mapping {
            Some(m) => (
                format!(
                    "{} {}",
                    m.product_id,
                    m.product_identifier.as_deref().unwrap_or("")
                )
                .trim()
                .to_string(),
                bill_method_name(m.bill_method).to_string(),
                if m.taxable { "taxable" } else { "exempt" }.to_string(),
            ),
            None => ("(not mapped)".into(), "-".into(), "-".into()),
        };
        t.add_row(vec![
            p.key.clone(),
            if p.enabled { "on" } else { "off" }.into(),
            product,
            bill,
            tax,
            p.orgs.to_string(),
            p.active_users.to_string(),
        ]);
    }
    table::align_right(&mut t, &[5, 6]);
    println!("{t}");
    if packages.is_empty() {
        println!("No packages yet: import usage with `seatsync usage import FILE`.");
    }
    Ok(())
}

/// `orgs`.
pub fn orgs(ctx: &Context, as_json: bool) -> anyhow::Result<()> {
    let orgs = ctx.store()?.list_orgs(&ctx.tenant)?;
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
