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
pub async fn import_usage(ctx: &mut Context, file: &Path) -> anyhow::Result<()> {
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
    if !summary.new_orgs.is_empty() {
        suggestions_ready(ctx, &store).await;
    }
    super::notify::send(
        &store,
        crate::notify::notice_for_usage(&ctx.tenant, &summary),
    )
    .await;
    Ok(())
}

/// After an import that brought new organizations: how many confident
/// suggestions `map suggest` has for the unmapped ones. Best effort: with
/// no connection, or a PSA that does not answer, it says nothing (the
/// import itself needs no PSA).
async fn suggestions_ready(ctx: &mut Context, store: &crate::store::Store) {
    if store.connection(&ctx.tenant).ok().flatten().is_none() {
        return;
    }
    let Ok(connected) = ctx.connected(store).await else {
        return;
    };
    match mapping::suggest_mappings(store, &ctx.tenant, &connected, &[], None).await {
        Ok(suggestions) => {
            let confident = suggestions.iter().filter(|s| s.confident).count();
            if confident > 0 {
                println!(
                    "{confident} of the {} unmapped organization(s) have a confident suggestion: `seatsync map suggest` shows them, `--apply` maps them.",
                    suggestions.len()
                );
            }
        }
        Err(error) => {
            tracing::debug!(%error, "no suggestions after the usage import");
        }
    }
}

/// `map package …` / `map org …`: checked against the PSA first
/// ([`crate::mapping`]).
pub async fn map(ctx: &mut Context, target: MapTarget) -> anyhow::Result<()> {
    let store = ctx.store()?;
    match target {
        MapTarget::Suggest {
            orgs,
            apply,
            min_score,
            agreement_type,
            json,
        } => {
            return suggest(
                ctx,
                &store,
                &orgs,
                apply,
                min_score,
                agreement_type.as_deref(),
                json,
            )
            .await;
        }
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

/// `map suggest`: suggestions for the unmapped organizations, and with
/// `--apply` the confident ones mapped.
async fn suggest(
    ctx: &mut Context,
    store: &crate::store::Store,
    orgs: &[String],
    apply: bool,
    min_score: f64,
    agreement_type: Option<&str>,
    as_json: bool,
) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&min_score) {
        anyhow::bail!("--min-score is between 0 and 1, not {min_score}");
    }
    let connected = ctx.connected(store).await?;
    let description = connected.runtime.describe().await?;
    let suggestions =
        mapping::suggest_mappings(store, &ctx.tenant, &connected, orgs, agreement_type).await?;
    let applied = if apply {
        Some(mapping::apply_suggestions(
            store,
            &ctx.tenant,
            &description,
            &suggestions,
            min_score,
        )?)
    } else {
        None
    };
    if as_json {
        let value: Vec<serde_json::Value> = suggestions
            .iter()
            .map(|s| {
                serde_json::json!({
                    "org_id": s.org_id,
                    "org_name": s.org_name,
                    "company_id": s.best.as_ref().map(|b| b.company_id),
                    "company_name": s.best.as_ref().map(|b| b.company_name.clone()),
                    "agreement_id": s.agreement.as_ref().map(|a| a.0),
                    "agreement_name": s.agreement.as_ref().map(|a| a.1.clone()),
                    "agreement_reason": s.agreement_reason,
                    "score": s.best.as_ref().map_or(0.0, |b| b.score),
                    "confident": s.confident,
                    "reason": s.reason,
                    "alternatives": s.alternatives.iter().map(|a| serde_json::json!({
                        "company_id": a.company_id,
                        "company_name": a.company_name,
                        "score": a.score,
                    })).collect::<Vec<_>>(),
                    "mapped": applied.as_ref().map(|a| a.mapped.contains(&s.org_id)),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if suggestions.is_empty() {
        println!("Every organization is mapped: nothing to suggest.");
        return Ok(());
    }
    let mut t = super::table::new(&[
        "org",
        "name",
        "company",
        &description.contract_noun,
        "score",
        "sure",
        "why",
    ]);
    for s in &suggestions {
        t.add_row(vec![
            s.org_id.clone(),
            s.org_name.clone(),
            s.best.as_ref().map_or("-".into(), |b| {
                format!("{} {}", b.company_id, b.company_name)
            }),
            s.agreement
                .as_ref()
                .map_or("-".into(), |a| format!("{} {}", a.0, a.1)),
            s.best
                .as_ref()
                .map_or("-".into(), |b| format!("{:.2}", b.score)),
            if s.confident { "yes" } else { "no" }.into(),
            if s.agreement.is_none() && s.best.is_some() {
                format!("{}; {}", s.reason, s.agreement_reason)
            } else {
                s.reason.clone()
            },
        ]);
    }
    super::table::align_right(&mut t, &[4]);
    println!("{t}");
    let confident = suggestions.iter().filter(|s| s.confident).count();
    match applied {
        None => println!(
            "{confident} of {} suggestion(s) are confident; `seatsync map suggest --apply` maps those scoring {min_score} or more.",
            suggestions.len()
        ),
        Some(mapping::Applied { mapped, left }) => {
            println!(
                "Mapped {} organization(s); {} left to map by hand (`seatsync orgs --unmapped`):",
                mapped.len(),
                left.len()
            );
            for (org, why) in left.iter().take(SCREENFUL) {
                println!("  {org}: {why}");
            }
            if left.len() > SCREENFUL {
                println!("  … and {} more", left.len() - SCREENFUL);
            }
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
