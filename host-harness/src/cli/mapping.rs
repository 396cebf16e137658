//! Commands that change what is synced: usage import, mappings and switches.
//!
//! Each validates before it writes, and writes in one store transaction, so
//! bad input changes nothing.

use std::path::Path;

use anyhow::{Context as _, bail};

use super::args::{BillArg, DataTypeArg, MapTarget, ToggleTarget};
use super::{Context, connector_value};
use crate::store::{DataType, OrgMapping, PackageMapping, StoreError, bill_method_name};
use crate::usage::{UsageFormat, parse_usage};
use seatsync_plugin::model::BillCustomer;

/// `usage import FILE`: all or nothing.
pub fn import_usage(ctx: &Context, file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| {
        format!(
            "cannot read {}: check the path and its permissions",
            file.display()
        )
    })?;
    let format = file
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(UsageFormat::from_file_name);
    let usage = parse_usage(&bytes, format).with_context(|| {
        format!(
            "{} was not imported; the previous usage stays in effect",
            file.display()
        )
    })?;
    let store = ctx.store()?;
    let summary = store.replace_usage(&ctx.tenant, &usage)?;
    println!(
        "Imported {} rows for {} organizations from {}.",
        summary.rows,
        summary.orgs,
        file.display()
    );
    if !summary.new_packages.is_empty() {
        println!(
            "New packages (map them with `seatsync map package KEY --product ID --bill billable`): {}",
            summary.new_packages.join(", ")
        );
    }
    if !summary.new_orgs.is_empty() {
        println!(
            "New organizations (map them with `seatsync map org ORG --company ID --agreement ID`): {}",
            summary.new_orgs.join(", ")
        );
    }
    if !summary.missing_mapped_orgs.is_empty() {
        println!(
            "Not in this file, so not synced until a file lists them again: {}",
            summary.missing_mapped_orgs.join(", ")
        );
    }
    Ok(())
}

/// `map package …` / `map org …`: checked against ConnectWise first.
pub async fn map(ctx: &mut Context, target: MapTarget) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let (stored, site) = ctx.connection(&store)?;
    let conn = stored.connector_connection();
    let runtime = ctx.runtime()?;
    match target {
        MapTarget::Package {
            key,
            product,
            bill,
            tax_exempt,
        } => {
            // An unknown package fails before ConnectWise is asked anything.
            let known: Vec<String> = store
                .list_packages(&ctx.tenant)?
                .into_iter()
                .map(|p| p.key)
                .collect();
            if !known.contains(&key) {
                return Err(StoreError::UnknownPackage {
                    tenant: ctx.tenant.clone(),
                    key,
                    known,
                }
                .into());
            }
            let products = connector_value(
                runtime.list_products(&site, &conn).await?,
                "reading the catalog failed",
                &conn,
            )?;
            let Some(item) = products.iter().find(|p| p.id == product) else {
                bail!(
                    "ConnectWise has no catalog product with id {product}: run `seatsync products` to see them"
                );
            };
            if item.inactive {
                bail!(
                    "the product {product} ({}) is inactive in ConnectWise: pick an active product",
                    item.identifier
                );
            }
            if item.product_class.as_deref() == Some("Bundle") {
                bail!(
                    "the product {product} ({}) is a bundle, which cannot be an agreement addition: pick another product",
                    item.identifier
                );
            }
            let mapping = PackageMapping {
                product_id: product,
                product_identifier: Some(item.identifier.clone()),
                product_description: Some(item.description.clone()),
                bill_method: bill_customer(bill),
                taxable: !tax_exempt,
            };
            store.upsert_package_mapping(&ctx.tenant, &key, &mapping)?;
            println!(
                "Package {key} -> product {product} {} ({}), {}, {}.",
                item.identifier,
                item.description,
                bill_method_name(mapping.bill_method),
                if mapping.taxable {
                    "taxable"
                } else {
                    "tax-exempt"
                }
            );
        }
        MapTarget::Org {
            org,
            company,
            agreement,
        } => {
            let orgs = store.list_orgs(&ctx.tenant)?;
            let known: Vec<String> = orgs.iter().map(|o| o.org_id.clone()).collect();
            if !known.contains(&org) {
                return Err(StoreError::UnknownOrg {
                    tenant: ctx.tenant.clone(),
                    org_id: org,
                    known,
                }
                .into());
            }
            let companies = connector_value(
                runtime.list_companies(&site, &conn).await?,
                "reading the companies failed",
                &conn,
            )?;
            let Some(found) = companies.iter().find(|c| c.id == company) else {
                bail!(
                    "ConnectWise has no (undeleted) company with id {company}: run `seatsync companies` to see them"
                );
            };
            let agreements = connector_value(
                runtime.list_agreements(&site, &conn, Some(company)).await?,
                "reading the agreements failed",
                &conn,
            )?;
            let Some(chosen) = agreements.iter().find(|a| a.id == agreement) else {
                bail!(
                    "company {company} ({}) has no agreement with id {agreement}: run `seatsync agreements --company {company}` to see its agreements",
                    found.name
                );
            };
            if chosen.cancelled {
                bail!(
                    "the agreement {agreement} ({}) is cancelled: pick an active agreement of {}",
                    chosen.name,
                    found.name
                );
            }
            // Two organizations on one agreement would overwrite each
            // other's counts (and race to create the same addition).
            if let Some(other) = orgs.iter().find(|o| {
                o.org_id != org
                    && o.mapping
                        .as_ref()
                        .is_some_and(|m| m.agreement_id == agreement)
            }) {
                bail!(
                    "agreement {agreement} is already mapped to organization {}: each organization needs its own \
                     agreement, or their counts would overwrite each other; pick another agreement",
                    other.org_id
                );
            }
            let mapping = OrgMapping {
                company_id: company,
                agreement_id: agreement,
                company_name: Some(found.name.clone()),
                agreement_name: Some(chosen.name.clone()),
            };
            store.upsert_org_mapping(&ctx.tenant, &org, &mapping)?;
            println!(
                "Organization {org} -> company {company} {}, agreement {agreement} {}.",
                found.name, chosen.name
            );
        }
    }
    Ok(())
}

/// `enable …` / `disable …`.
pub fn toggle(ctx: &Context, target: ToggleTarget, enabled: bool) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let state = if enabled { "enabled" } else { "disabled" };
    match target {
        ToggleTarget::Package { key } => {
            store.set_package_enabled(&ctx.tenant, &key, enabled)?;
            println!("Package {key}: sync {state}.");
        }
        ToggleTarget::Org { org } => {
            store.set_org_enabled(&ctx.tenant, &org, enabled)?;
            println!("Organization {org}: sync {state}.");
        }
        ToggleTarget::Data { data_type } => {
            let data_type = match data_type {
                DataTypeArg::UserCounts => DataType::UserCounts,
                DataTypeArg::Packages => DataType::Packages,
            };
            store.set_data_type(&ctx.tenant, data_type, enabled)?;
            println!("Data type {}: sync {state}.", data_type.as_str());
        }
    }
    Ok(())
}

fn bill_customer(bill: BillArg) -> BillCustomer {
    match bill {
        BillArg::Billable => BillCustomer::Billable,
        BillArg::DoNotBill => BillCustomer::DoNotBill,
        BillArg::NoCharge => BillCustomer::NoCharge,
    }
}
