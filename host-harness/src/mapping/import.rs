//! `seatsync mappings import`: a whole mappings file checked against the
//! PSA like `map` checks one mapping, then stored all or nothing.
//!
//! The PSA's lists are read once per import (the catalog, the companies,
//! the contracts), not once per row, and only those the file needs. Every
//! bad row is named with its line; one bad row rejects the file and
//! nothing is changed.

use std::collections::{BTreeMap, HashMap};

use seatsync_contract::{Company, Contract, Product, RecordId};

use super::file::{MappingEntry, MappingRow};
use super::{MappingError, check_contract, check_product, contract_taken, package_options};
use crate::connection::Connected;
use crate::store::{OrgChange, OrgMapping, PackageChange, PackageMapping, Store};

/// Bad rows named at most, before "and N more".
const MAX_ERRORS: usize = 20;

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// Rows read.
    pub rows: usize,
    /// Rows that change something (a switch or a mapping).
    pub changes: usize,
    /// Rows that map a package or an organization.
    pub mapped: usize,
    /// Rows that unmap one.
    pub unmapped: usize,
}

/// Checks `rows` against the store and the PSA and, unless `dry_run`,
/// stores them in one transaction. Nothing is stored if any row is bad:
/// the error names each bad row's line.
pub async fn import_mappings(
    store: &Store,
    tenant: &str,
    connected: &Connected,
    rows: &[MappingRow],
    dry_run: bool,
) -> Result<ImportReport, MappingError> {
    let c = connected;
    let description = c.runtime.describe().await?;
    let packages = store.list_packages(tenant)?;
    let orgs = store.list_orgs(tenant)?;
    let mut errors: Vec<(usize, String)> = Vec::new();

    // Each package and organization once.
    let mut seen: HashMap<(bool, &str), usize> = HashMap::new();
    for row in rows {
        let (is_package, id) = match &row.entry {
            MappingEntry::Package { key, .. } => (true, key.as_str()),
            MappingEntry::Org { org_id, .. } => (false, org_id.as_str()),
        };
        if let Some(first) = seen.insert((is_package, id), row.line) {
            let what = if is_package {
                "package"
            } else {
                "organization"
            };
            errors.push((
                row.line,
                format!("{what} '{id}' is also on line {first}: keep one row"),
            ));
        }
    }

    // The PSA's lists, each read once and only when a row needs it.
    let products: Vec<Product> = if rows.iter().any(|r| {
        matches!(
            &r.entry,
            MappingEntry::Package {
                product: Some(_),
                ..
            }
        )
    }) {
        let call = c.runtime.list_products(&c.policy, &c.settings).await?;
        c.value(call, "reading the catalog failed")?
    } else {
        Vec::new()
    };
    let (companies, contracts): (Vec<Company>, Vec<Contract>) = if rows.iter().any(|r| {
        matches!(
            &r.entry,
            MappingEntry::Org {
                contract: Some(_),
                ..
            }
        )
    }) {
        super::companies_and_contracts(c, &description).await?
    } else {
        (Vec::new(), Vec::new())
    };

    let mut report = ImportReport {
        rows: rows.len(),
        ..ImportReport::default()
    };
    let mut package_changes = Vec::new();
    let mut org_changes = Vec::new();
    // Where each organization's counts go once the file is in: the current
    // mappings, with the file's rows over them.
    let mut contract_of: BTreeMap<&str, RecordId> = orgs
        .iter()
        .filter_map(|o| {
            o.mapping
                .as_ref()
                .map(|m| (o.org_id.as_str(), m.agreement_id))
        })
        .collect();
    let mut line_of_org: HashMap<&str, usize> = HashMap::new();
    for row in rows {
        match &row.entry {
            MappingEntry::Package {
                key,
                enabled,
                product,
            } => {
                let Some(current) = packages.iter().find(|p| &p.key == key) else {
                    errors.push((
                        row.line,
                        format!(
                            "no package '{key}' in this tenant: import usage that has it first"
                        ),
                    ));
                    continue;
                };
                let mapping = match product {
                    None => None,
                    Some((id, given)) => {
                        let item = match check_product(&description, &products, *id) {
                            Ok(item) => item,
                            Err(reason) => {
                                errors.push((row.line, reason));
                                continue;
                            }
                        };
                        let options = match package_options(&description, given) {
                            Ok(options) => options,
                            Err(error) => {
                                errors.push((row.line, error.to_string()));
                                continue;
                            }
                        };
                        Some(PackageMapping {
                            product_id: *id,
                            product_identifier: Some(item.identifier.clone()),
                            product_description: Some(item.description.clone()),
                            options,
                        })
                    }
                };
                let same = current.enabled == *enabled
                    && current.mapping.as_ref().map(|m| (m.product_id, &m.options))
                        == mapping.as_ref().map(|m| (m.product_id, &m.options));
                report.changes += usize::from(!same);
                if mapping.is_some() {
                    report.mapped += 1;
                } else {
                    report.unmapped += 1;
                }
                package_changes.push(PackageChange {
                    key: key.clone(),
                    enabled: *enabled,
                    mapping,
                });
            }
            MappingEntry::Org {
                org_id,
                enabled,
                contract,
            } => {
                let Some(current) = orgs.iter().find(|o| &o.org_id == org_id) else {
                    errors.push((
                        row.line,
                        format!("no organization '{org_id}' in this tenant: import usage that has it first"),
                    ));
                    continue;
                };
                line_of_org.insert(org_id, row.line);
                let mapping = match contract {
                    None => {
                        contract_of.remove(org_id.as_str());
                        None
                    }
                    Some((company, agreement)) => {
                        match check_contract(
                            &description,
                            &companies,
                            &contracts,
                            *company,
                            *agreement,
                        ) {
                            Ok((found, chosen)) => {
                                contract_of.insert(org_id, *agreement);
                                Some(OrgMapping {
                                    company_id: *company,
                                    agreement_id: *agreement,
                                    company_name: Some(found.name.clone()),
                                    agreement_name: Some(chosen.name.clone()),
                                })
                            }
                            Err(reason) => {
                                errors.push((row.line, reason));
                                continue;
                            }
                        }
                    }
                };
                let same = current.enabled == *enabled
                    && current
                        .mapping
                        .as_ref()
                        .map(|m| (m.company_id, m.agreement_id))
                        == mapping.as_ref().map(|m| (m.company_id, m.agreement_id));
                report.changes += usize::from(!same);
                if mapping.is_some() {
                    report.mapped += 1;
                } else {
                    report.unmapped += 1;
                }
                org_changes.push(OrgChange {
                    org_id: org_id.clone(),
                    enabled: *enabled,
                    mapping,
                });
            }
        }
    }

    // No two organizations on one contract once the file is in.
    let mut on_contract: BTreeMap<RecordId, Vec<&str>> = BTreeMap::new();
    for (org, agreement) in &contract_of {
        on_contract.entry(*agreement).or_default().push(org);
    }
    for (agreement, sharing) in on_contract.iter().filter(|(_, o)| o.len() > 1) {
        for org in sharing {
            if let Some(line) = line_of_org.get(org) {
                let other = sharing
                    .iter()
                    .find(|o| *o != org)
                    .copied()
                    .unwrap_or_default();
                errors.push((*line, contract_taken(&description, *agreement, other)));
            }
        }
    }

    if !errors.is_empty() {
        errors.sort();
        let count = errors.len();
        let mut text =
            format!("the mappings file was not imported, nothing changed: {count} bad row(s)");
        for (line, reason) in errors.iter().take(MAX_ERRORS) {
            text.push_str(&format!("\n  line {line}: {reason}"));
        }
        if count > MAX_ERRORS {
            text.push_str(&format!("\n  … and {} more", count - MAX_ERRORS));
        }
        return Err(MappingError::Refused(text));
    }
    if !dry_run {
        store.apply_mappings(tenant, &package_changes, &org_changes)?;
    }
    Ok(report)
}
