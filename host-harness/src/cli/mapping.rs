//! Commands that change what is synced: usage import, mappings and switches.
//!
//! Each validates before it writes, and writes in one store transaction, so
//! bad input changes nothing.

use std::path::Path;

use anyhow::Context as _;

use super::Context;
use super::args::{DataTypeArg, MapTarget, MappingsFormat, ToggleTarget};
use crate::mapping;
use crate::store::{DataType, StoreError};
use crate::usage::{UsageFormat, parse_usage};

/// Names a message lists before it gives a count instead.
const SCREENFUL: usize = 20;

/// `usage import FILE`: all or nothing.
pub async fn import_usage(ctx: &Context, file: &Path) -> anyhow::Result<()> {
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
    // Names up to a screenful; past that, counts and the command that
    // lists them (a 30,000-row file can bring 17,000 new organizations).
    let listed = |names: &[String], what: &str, how: &str, list_with: &str| {
        if names.is_empty() {
            return;
        }
        if names.len() <= SCREENFUL {
            println!("{what} ({how}): {}", names.join(", "));
        } else {
            println!(
                "{what}: {} ({how}); list them with `{list_with}`",
                names.len()
            );
        }
    };
    listed(
        &summary.new_packages,
        "New packages",
        "map them with `seatsync map package KEY --product ID`",
        "seatsync packages --unmapped",
    );
    listed(
        &summary.new_orgs,
        "New organizations",
        "map them with `seatsync map org ORG --company ID --agreement ID`, or many at once with `seatsync mappings import`",
        "seatsync orgs --unmapped",
    );
    listed(
        &summary.missing_mapped_orgs,
        "Not in this file, so not synced until a file lists them again",
        "their mappings are kept",
        "seatsync orgs --missing",
    );
    super::notify::send(
        &store,
        crate::notify::notice_for_usage(&ctx.tenant, &summary),
    )
    .await;
    Ok(())
}

/// `map package …` / `map org …`: checked against the PSA first
/// ([`crate::mapping`]).
pub async fn map(ctx: &mut Context, target: MapTarget) -> anyhow::Result<()> {
    let store = ctx.store()?;
    match target {
        MapTarget::Package {
            key,
            product,
            bill,
            tax_exempt,
            options,
        } => {
            // An unknown package fails before the PSA is asked anything.
            if !store
                .list_packages(&ctx.tenant)?
                .iter()
                .any(|p| p.key == key)
            {
                let known = store
                    .list_packages(&ctx.tenant)?
                    .into_iter()
                    .map(|p| p.key)
                    .collect();
                return Err(StoreError::UnknownPackage {
                    tenant: ctx.tenant.clone(),
                    key,
                    known,
                }
                .into());
            }
            let connected = ctx.connected(&store).await?;
            let description = connected.runtime.describe().await?;
            // `--bill` and `--tax-exempt` are the ConnectWise connector's
            // options under the flags this command has always had.
            let mut given = Vec::new();
            if let Some(bill) = bill {
                given.push(("bill-method".to_string(), bill));
            }
            if tax_exempt {
                given.push(("taxable".to_string(), "false".to_string()));
            }
            for text in &options {
                let (k, v) = super::key_value(text, "--option")?;
                given.push((k.to_string(), v.trim().to_string()));
            }
            let options = mapping::package_options(&description, &given)?;
            let (item, mapping) =
                mapping::map_package(&store, &ctx.tenant, &connected, &key, product, options)
                    .await?;
            let options = mapping
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "Package {key} -> product {product} {} ({}){}.",
                item.identifier,
                item.description,
                if options.is_empty() {
                    String::new()
                } else {
                    format!(", {options}")
                }
            );
        }
        MapTarget::Org {
            org,
            company,
            agreement,
        } => {
            if !store
                .list_orgs(&ctx.tenant)?
                .iter()
                .any(|o| o.org_id == org)
            {
                let known = store
                    .list_orgs(&ctx.tenant)?
                    .into_iter()
                    .map(|o| o.org_id)
                    .collect();
                return Err(StoreError::UnknownOrg {
                    tenant: ctx.tenant.clone(),
                    org_id: org,
                    known,
                }
                .into());
            }
            let connected = ctx.connected(&store).await?;
            let mapping =
                mapping::map_org(&store, &ctx.tenant, &connected, &org, company, agreement).await?;
            println!(
                "Organization {org} -> company {company} {}, agreement {agreement} {}.",
                mapping.company_name.as_deref().unwrap_or_default(),
                mapping.agreement_name.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `mappings export`: every package and organization, to stdout.
pub fn export(ctx: &Context, format: MappingsFormat) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let packages = store.list_packages(&ctx.tenant)?;
    let orgs = store.list_orgs(&ctx.tenant)?;
    match format {
        MappingsFormat::Csv => print!(
            "{}",
            mapping::file::to_csv(&packages, &orgs).context("cannot write the CSV")?
        ),
        MappingsFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&mapping::file::to_json(&packages, &orgs))?
        ),
    }
    Ok(())
}

/// `mappings import FILE [--dry-run]`.
pub async fn import(ctx: &mut Context, file: &Path, dry_run: bool) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| {
        format!(
            "cannot read {}: check the path and its permissions",
            file.display()
        )
    })?;
    let rows = mapping::file::parse(&bytes)
        .with_context(|| format!("{} was not imported, nothing changed", file.display()))?;
    let store = ctx.store()?;
    let connected = ctx.connected(&store).await?;
    let report = mapping::import_mappings(&store, &ctx.tenant, &connected, &rows, dry_run).await?;
    println!(
        "{} {} row(s) from {}: {} change(s); {} mapped, {} unmapped.",
        if dry_run {
            "Checked (dry run, nothing changed)"
        } else {
            "Imported"
        },
        report.rows,
        file.display(),
        report.changes,
        report.mapped,
        report.unmapped
    );
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
