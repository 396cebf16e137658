//! Mapping a vendor package to a product and an organization to a company
//! and contract, checked against the PSA before anything is stored. The
//! rules live here, not in a front end, so the CLI and any other front end
//! apply the same ones.
//!
//! A package's product must exist, be active and be billable as a
//! recurring line; its options must be ones the connector describes, with
//! allowed values. An organization's contract must exist, belong to the
//! company, not be cancelled, and not be mapped to another organization
//! (their counts would overwrite each other).
//!
//! [`file`] reads and writes the mappings file (`seatsync mappings
//! export`), and [`import_mappings`] applies one with the same checks, all
//! or nothing.

pub mod file;
mod import;
pub mod suggest;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use seatsync_contract::{Company, ConnectorDescription, Contract, Product, RecordId};

use crate::connection::{Connected, ConnectorFailed};
use crate::runtime::RuntimeError;
use crate::store::{OrgMapping, PackageMapping, Store, StoreError};

pub use import::{ImportReport, import_mappings};

use self::suggest::{OrgToMatch, Suggestion};
use crate::store::OrgChange;

/// `map suggest`: suggestions for the tenant's unmapped organizations
/// (`only`, when given: each must be one), from one read of the companies
/// and one of the contracts.
pub async fn suggest_mappings(
    store: &Store,
    tenant: &str,
    connected: &Connected,
    only: &[String],
    agreement_type: Option<&str>,
) -> Result<Vec<Suggestion>, MappingError> {
    let orgs = store.list_orgs(tenant)?;
    for wanted in only {
        match orgs.iter().find(|o| &o.org_id == wanted) {
            None => {
                return Err(StoreError::UnknownOrg {
                    tenant: tenant.into(),
                    org_id: wanted.clone(),
                    known: orgs.iter().map(|o| o.org_id.clone()).collect(),
                }
                .into());
            }
            Some(o) if o.mapping.is_some() => {
                return Err(MappingError::Refused(format!(
                    "organization {wanted} is mapped already: `seatsync map org {wanted} --company ID --agreement ID` changes it"
                )));
            }
            Some(_) => {}
        }
    }
    let to_match: Vec<OrgToMatch> = orgs
        .iter()
        .filter(|o| o.mapping.is_none() && (only.is_empty() || only.contains(&o.org_id)))
        .map(|o| OrgToMatch {
            org_id: o.org_id.clone(),
            name: o.name.clone(),
            domain: o.domain.clone(),
        })
        .collect();
    if to_match.is_empty() {
        return Ok(Vec::new());
    }
    let description = connected.runtime.describe().await?;
    let noun = &description.contract_noun;
    let (companies, contracts) = companies_and_contracts(connected, &description).await?;
    let first = suggest::suggest(
        &to_match,
        &companies,
        &contracts,
        &HashSet::new(),
        agreement_type,
        noun,
    );
    // Companies the rules left undecided between several active
    // contracts: which of those already hold lines of mapped products
    // (a dry-run read of each, only for them).
    let undecided: BTreeSet<RecordId> = first
        .iter()
        .filter(|s| s.agreement.is_none())
        .filter_map(|s| s.best.as_ref().map(|b| b.company_id))
        .collect();
    let holding = holding_contracts(store, tenant, connected, &contracts, &undecided).await?;
    if holding.is_empty() {
        return Ok(first);
    }
    Ok(suggest::suggest(
        &to_match,
        &companies,
        &contracts,
        &holding,
        agreement_type,
        noun,
    ))
}

/// The active contracts of `companies` (those with more than one) that
/// hold an active line of a mapped product: one dry-run read per contract.
/// A contract that cannot be read is left out (and logged).
async fn holding_contracts(
    store: &Store,
    tenant: &str,
    connected: &Connected,
    contracts: &[Contract],
    companies: &BTreeSet<RecordId>,
) -> Result<HashSet<RecordId>, MappingError> {
    let lines: Vec<seatsync_contract::SyncLine> = store
        .list_packages(tenant)?
        .into_iter()
        .filter_map(|p| {
            p.mapping.map(|m| seatsync_contract::SyncLine {
                package_key: p.key,
                product_id: m.product_id,
                quantity: 0,
                options: m.options,
                description: None,
            })
        })
        .collect();
    let mut holding = HashSet::new();
    if lines.is_empty() {
        return Ok(holding);
    }
    let today = store.now().format("%Y-%m-%d").to_string();
    let c = connected;
    for contract in contracts
        .iter()
        .filter(|k| !k.cancelled && companies.contains(&k.company_id))
    {
        let request = seatsync_contract::SyncRequest {
            company_id: contract.company_id,
            contract_id: contract.id,
            lines: lines.clone(),
            dry_run: true,
            today: today.clone(),
            start_date: today.clone(),
            update_quantities: true,
            create_missing: true,
        };
        let report = match c
            .runtime
            .sync_organization(&c.policy, &c.settings, &request)
            .await
        {
            Ok(call) => call.value,
            Err(error) => {
                tracing::debug!(%error, contract = contract.id, "cannot read a contract's lines for a suggestion");
                continue;
            }
        };
        let holds = report.is_ok_and(|r| {
            r.lines.iter().any(|l| match &l.outcome {
                seatsync_contract::LineOutcome::Updated { .. }
                | seatsync_contract::LineOutcome::Unchanged => true,
                seatsync_contract::LineOutcome::Conflict(ids) => !ids.is_empty(),
                _ => false,
            })
        });
        if holds {
            holding.insert(contract.id);
        }
    }
    Ok(holding)
}

/// Every company and every contract of the PSA: one read of each (paged),
/// for checks of many organizations at once.
pub(crate) async fn companies_and_contracts(
    connected: &Connected,
    description: &ConnectorDescription,
) -> Result<(Vec<Company>, Vec<Contract>), MappingError> {
    let c = connected;
    let call = c.runtime.list_companies(&c.policy, &c.settings).await?;
    let companies = c.value(call, "reading the companies failed")?;
    let call = c
        .runtime
        .list_contracts(&c.policy, &c.settings, None)
        .await?;
    let noun = &description.contract_noun;
    let contracts = c.value(call, &format!("reading the {noun}s failed"))?;
    Ok((companies, contracts))
}

/// What `map suggest --apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The organizations mapped.
    pub mapped: Vec<String>,
    /// Those left to map by hand, with why.
    pub left: Vec<(String, String)>,
}

/// Maps the confident `suggestions` scoring at least `min_score` that have
/// a contract, all in one transaction, unless one's contract is mapped to
/// another organization (then that one is left, with why).
pub fn apply_suggestions(
    store: &Store,
    tenant: &str,
    description: &ConnectorDescription,
    suggestions: &[Suggestion],
    min_score: f64,
) -> Result<Applied, MappingError> {
    let orgs = store.list_orgs(tenant)?;
    let mut taken: HashMap<RecordId, String> = orgs
        .iter()
        .filter_map(|o| {
            o.mapping
                .as_ref()
                .map(|m| (m.agreement_id, o.org_id.clone()))
        })
        .collect();
    let mut changes = Vec::new();
    let mut left = Vec::new();
    for s in suggestions {
        let why = match (&s.best, &s.agreement) {
            (None, _) => Some("no company found".to_string()),
            (Some(_), _) if !s.confident => Some(format!("not confident: {}", s.reason)),
            (Some(b), _) if b.score < min_score => Some(format!(
                "score {} is under --min-score {min_score}",
                b.score
            )),
            (Some(_), None) => Some(format!(
                "no {} chosen: {}",
                description.contract_noun, s.agreement_reason
            )),
            (Some(b), Some((agreement, agreement_name))) => match taken.get(agreement) {
                Some(other) => Some(contract_taken(description, *agreement, other)),
                None => {
                    taken.insert(*agreement, s.org_id.clone());
                    let enabled = orgs
                        .iter()
                        .find(|o| o.org_id == s.org_id)
                        .is_none_or(|o| o.enabled);
                    changes.push(OrgChange {
                        org_id: s.org_id.clone(),
                        enabled,
                        mapping: Some(OrgMapping {
                            company_id: b.company_id,
                            agreement_id: *agreement,
                            company_name: Some(b.company_name.clone()),
                            agreement_name: Some(agreement_name.clone()),
                        }),
                    });
                    None
                }
            },
        };
        if let Some(why) = why {
            left.push((s.org_id.clone(), why));
        }
    }
    store.apply_mappings(tenant, &[], &changes)?;
    Ok(Applied {
        mapped: changes.into_iter().map(|c| c.org_id).collect(),
        left,
    })
}

/// Why a mapping was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The store refused it (an unknown package or organization).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The connector could not be asked.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The connector answered with an error.
    #[error(transparent)]
    Connector(#[from] ConnectorFailed),
    /// The PSA's answer rules the mapping out; the message says why and
    /// what to do.
    #[error("{0}")]
    Refused(String),
}

/// A package's options from `KEY=VALUE` texts, checked against the
/// connector's description: known keys, allowed values; the described
/// defaults for the rest.
pub fn package_options(
    description: &ConnectorDescription,
    given: &[(String, String)],
) -> Result<BTreeMap<String, String>, MappingError> {
    let mut options: BTreeMap<String, String> = description
        .line_options
        .iter()
        .map(|o| (o.key.clone(), o.default_value.clone()))
        .collect();
    for (key, value) in given {
        let Some(option) = description.option(key) else {
            let known = description
                .line_options
                .iter()
                .map(|o| o.key.as_str())
                .collect::<Vec<_>>();
            return Err(MappingError::Refused(if known.is_empty() {
                format!("this connector takes no product option, so not '{key}'")
            } else {
                format!(
                    "this connector has no product option '{key}': its options are {}",
                    known.join(", ")
                )
            }));
        };
        option.check(value).map_err(MappingError::Refused)?;
        options.insert(key.clone(), value.clone());
    }
    Ok(options)
}

/// Maps package `key` to `product` with `options`, after checking the
/// product in the catalog. Returns the product and the stored mapping.
pub async fn map_package(
    store: &Store,
    tenant: &str,
    connected: &Connected,
    key: &str,
    product: RecordId,
    options: BTreeMap<String, String>,
) -> Result<(Product, PackageMapping), MappingError> {
    // An unknown package fails before the PSA is asked anything.
    let known: Vec<String> = store
        .list_packages(tenant)?
        .into_iter()
        .map(|p| p.key)
        .collect();
    if !known.iter().any(|k| k == key) {
        return Err(StoreError::UnknownPackage {
            tenant: tenant.to_owned(),
            key: key.to_owned(),
            known,
        }
        .into());
    }
    let c = connected;
    let call = c.runtime.list_products(&c.policy, &c.settings).await?;
    let products = c.value(call, "reading the catalog failed")?;
    let description = c.runtime.describe().await?;
    let item = check_product(&description, &products, product)
        .map_err(MappingError::Refused)?
        .clone();
    let mapping = PackageMapping {
        product_id: product,
        product_identifier: Some(item.identifier.clone()),
        product_description: Some(item.description.clone()),
        options,
    };
    store.upsert_package_mapping(tenant, key, &mapping)?;
    Ok((item, mapping))
}

/// The catalog product `product` if a package may be mapped to it: it
/// exists, is active, and can be billed as a recurring line. Otherwise why
/// not, and what to do.
pub fn check_product<'a>(
    description: &ConnectorDescription,
    products: &'a [Product],
    product: RecordId,
) -> Result<&'a Product, String> {
    let Some(item) = products.iter().find(|p| p.id == product) else {
        return Err(format!(
            "{} has no catalog product with id {product}: run `seatsync products` to see them",
            description.psa
        ));
    };
    if item.inactive {
        return Err(format!(
            "the product {product} ({}) is inactive in {}: pick an active product",
            item.identifier, description.psa
        ));
    }
    if !item.billable_as_line {
        return Err(format!(
            "the product {product} ({}) cannot be billed as {} {}{}: pick another product",
            item.identifier,
            article(&description.line_noun),
            description.line_noun,
            item.kind
                .as_deref()
                .map(|k| format!(" (it is a {})", k.to_lowercase()))
                .unwrap_or_default()
        ));
    }
    Ok(item)
}

/// The company and contract an organization may be mapped to: the company
/// exists, and `agreement` is one of its contracts (`contracts` may hold
/// other companies' too) and is not cancelled. Otherwise why not, and what
/// to do. (That no other organization is mapped to the contract is checked
/// apart: it depends on the other mappings.)
pub fn check_contract<'a>(
    description: &ConnectorDescription,
    companies: &'a [Company],
    contracts: &'a [Contract],
    company: RecordId,
    agreement: RecordId,
) -> Result<(&'a Company, &'a Contract), String> {
    let noun = &description.contract_noun;
    let Some(found) = companies.iter().find(|x| x.id == company) else {
        return Err(format!(
            "{} has no (undeleted) company with id {company}: run `seatsync companies` to see them",
            description.psa
        ));
    };
    let Some(chosen) = contracts
        .iter()
        .find(|a| a.id == agreement && a.company_id == company)
    else {
        return Err(format!(
            "company {company} ({}) has no {noun} with id {agreement}: run `seatsync agreements --company {company}` \
             to see its {noun}s",
            found.name
        ));
    };
    if chosen.cancelled {
        return Err(format!(
            "the {noun} {agreement} ({}) is cancelled: pick an active {noun} of {}",
            chosen.name, found.name
        ));
    }
    Ok((found, chosen))
}

/// Why `agreement` cannot go to `org` when `other` already has it: two
/// organizations on one contract would overwrite each other's counts (and
/// race to create the same line).
pub fn contract_taken(
    description: &ConnectorDescription,
    agreement: RecordId,
    other: &str,
) -> String {
    let noun = &description.contract_noun;
    format!(
        "{noun} {agreement} is already mapped to organization {other}: each organization needs its own \
         {noun}, or their counts would overwrite each other; pick another {noun}"
    )
}

/// "a" or "an".
fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Maps organization `org` to `company` and its contract `agreement`,
/// after checking both in the PSA. Returns the stored mapping.
pub async fn map_org(
    store: &Store,
    tenant: &str,
    connected: &Connected,
    org: &str,
    company: RecordId,
    agreement: RecordId,
) -> Result<OrgMapping, MappingError> {
    let orgs = store.list_orgs(tenant)?;
    let known: Vec<String> = orgs.iter().map(|o| o.org_id.clone()).collect();
    if !known.iter().any(|k| k == org) {
        return Err(StoreError::UnknownOrg {
            tenant: tenant.to_owned(),
            org_id: org.to_owned(),
            known,
        }
        .into());
    }
    let c = connected;
    let description = c.runtime.describe().await?;
    let noun = &description.contract_noun;
    let call = c.runtime.list_companies(&c.policy, &c.settings).await?;
    let companies = c.value(call, "reading the companies failed")?;
    // The company's own contracts only: one request, not the tenant's list.
    let contracts = if companies.iter().any(|x| x.id == company) {
        let call = c
            .runtime
            .list_contracts(&c.policy, &c.settings, Some(company))
            .await?;
        c.value(call, &format!("reading the {noun}s failed"))?
    } else {
        Vec::new()
    };
    let (found, chosen) = check_contract(&description, &companies, &contracts, company, agreement)
        .map_err(MappingError::Refused)?;
    if let Some(other) = orgs.iter().find(|o| {
        o.org_id != org
            && o.mapping
                .as_ref()
                .is_some_and(|m| m.agreement_id == agreement)
    }) {
        return Err(MappingError::Refused(contract_taken(
            &description,
            agreement,
            &other.org_id,
        )));
    }
    let mapping = OrgMapping {
        company_id: company,
        agreement_id: agreement,
        company_name: Some(found.name.clone()),
        agreement_name: Some(chosen.name.clone()),
    };
    store.upsert_org_mapping(tenant, org, &mapping)?;
    Ok(mapping)
}

#[cfg(test)]
mod tests {
    use seatsync_contract::{OptionDescription, OptionKind};

    use super::*;

    fn description(options: Vec<OptionDescription>) -> ConnectorDescription {
        ConnectorDescription {
            name: "toy".into(),
            version: "1.0.0".into(),
            psa: "Toy PSA".into(),
            line_noun: "line".into(),
            contract_noun: "contract".into(),
            settings: Vec::new(),
            line_options: options,
        }
    }

    fn option(key: &str, kind: OptionKind, default: &str) -> OptionDescription {
        OptionDescription {
            key: key.into(),
            label: key.into(),
            help: String::new(),
            kind,
            default_value: default.into(),
        }
    }

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn toy() -> ConnectorDescription {
        description(vec![
            option(
                "bill",
                OptionKind::Choice(vec!["Billable".into(), "NoCharge".into()]),
                "Billable",
            ),
            option("taxable", OptionKind::Flag, "true"),
            option("memo", OptionKind::Text, ""),
        ])
    }

    #[test]
    fn unset_options_take_their_described_defaults() {
        let options = package_options(&toy(), &given(&[("taxable", "false")])).unwrap();
        let options: Vec<_> = options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            options,
            [("bill", "Billable"), ("memo", ""), ("taxable", "false")]
        );
    }

    #[test]
    fn an_unknown_key_is_refused_and_the_known_ones_are_named() {
        let error = package_options(&toy(), &given(&[("colour", "red")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "this connector has no product option 'colour': its options are bill, taxable, memo"
        );
        let error =
            package_options(&description(Vec::new()), &given(&[("colour", "red")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "this connector takes no product option, so not 'colour'"
        );
    }

    #[test]
    fn values_are_checked_against_the_option_kind() {
        let error = package_options(&toy(), &given(&[("bill", "Free")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "'Free' is not a value of option 'bill': use one of Billable, NoCharge"
        );
        let error = package_options(&toy(), &given(&[("taxable", "yes")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "option 'taxable' is true or false, not 'yes'"
        );
        let options = package_options(&toy(), &given(&[("memo", "any text at all")])).unwrap();
        assert_eq!(options["memo"], "any text at all");
    }
}
