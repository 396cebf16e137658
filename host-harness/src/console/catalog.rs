//! The PSA's lists (catalog products, companies, contracts) as the
//! pickers search them: read once per tenant and kept a few minutes, so
//! typing in a picker does not ask the PSA at each keystroke. Mapping
//! itself checks against a fresh read ([`crate::mapping`]); this is only
//! what is offered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use seatsync_contract::{Company, Contract, Product};

use super::{Console, ConsoleError};

/// How long a read stays fresh.
pub const FRESH_FOR: TimeDelta = TimeDelta::minutes(10);

/// How many matches a picker shows.
pub const MATCHES_SHOWN: usize = 50;

/// One tenant's lists, as read at `read_at`.
#[derive(Debug)]
pub struct Catalog {
    /// The catalog products.
    pub products: Vec<Product>,
    /// The companies.
    pub companies: Vec<Company>,
    /// Every company's contracts.
    pub contracts: Vec<Contract>,
    /// When they were read.
    pub read_at: DateTime<Utc>,
}

/// Every tenant's lists.
#[derive(Default)]
pub struct Catalogs {
    by_tenant: Mutex<HashMap<String, Arc<Catalog>>>,
}

impl Catalogs {
    fn fresh(&self, tenant: &str, now: DateTime<Utc>) -> Option<Arc<Catalog>> {
        let map = self.by_tenant.lock().unwrap_or_else(|p| p.into_inner());
        map.get(tenant)
            .filter(|c| now - c.read_at < FRESH_FOR)
            .cloned()
    }

    /// Forgets a tenant's lists (the Refresh button, a new connection).
    pub fn forget(&self, tenant: &str) {
        let mut map = self.by_tenant.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(tenant);
    }
}

impl Console {
    /// `tenant`'s lists: kept ones if fresh, else read from the PSA now.
    pub async fn catalog(&self, tenant: &str) -> Result<Arc<Catalog>, ConsoleError> {
        let now = self.now();
        if let Some(catalog) = self.catalogs().fresh(tenant, now) {
            return Ok(catalog);
        }
        let t = tenant.to_owned();
        let catalog = self
            .with_store_async(move |store, console| async move {
                let c = console.connected(&store, &t).await?;
                let noun = console.description().contract_noun.clone();
                let call = c.runtime.list_products(&c.policy, &c.settings).await?;
                let products = c.value(call, "reading the catalog failed")?;
                let call = c.runtime.list_companies(&c.policy, &c.settings).await?;
                let companies = c.value(call, "reading the companies failed")?;
                let call = c
                    .runtime
                    .list_contracts(&c.policy, &c.settings, None)
                    .await?;
                let contracts = c.value(call, &format!("reading the {noun}s failed"))?;
                Ok(Catalog {
                    products,
                    companies,
                    contracts,
                    read_at: console.now(),
                })
            })
            .await?;
        let catalog = Arc::new(catalog);
        let mut map = self
            .catalogs()
            .by_tenant
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.insert(tenant.to_owned(), catalog.clone());
        Ok(catalog)
    }
}

/// Whether `text` contains every word of `query`, ignoring case.
pub fn matches(query: &str, texts: &[&str]) -> bool {
    let haystack = texts.join(" ").to_lowercase();
    query
        .split_whitespace()
        .all(|word| haystack.contains(&word.to_lowercase()))
}

impl Catalog {
    /// Products a package may be mapped to that match `query`: active and
    /// billable as a line, at most [`MATCHES_SHOWN`], and how many matched.
    pub fn products_matching(&self, query: &str) -> (Vec<&Product>, usize) {
        let all: Vec<&Product> = self
            .products
            .iter()
            .filter(|p| !p.inactive && p.billable_as_line)
            .filter(|p| matches(query, &[&p.identifier, &p.description]))
            .collect();
        let n = all.len();
        (all.into_iter().take(MATCHES_SHOWN).collect(), n)
    }

    /// Companies matching `query` (name, identifier or domain).
    pub fn companies_matching(&self, query: &str) -> (Vec<&Company>, usize) {
        let all: Vec<&Company> = self
            .companies
            .iter()
            .filter(|c| {
                matches(
                    query,
                    &[&c.name, &c.identifier, c.domain.as_deref().unwrap_or("")],
                )
            })
            .collect();
        let n = all.len();
        (all.into_iter().take(MATCHES_SHOWN).collect(), n)
    }

    /// A company's contracts that are not cancelled.
    pub fn open_contracts(&self, company: i64) -> Vec<&Contract> {
        self.contracts
            .iter()
            .filter(|c| c.company_id == company && !c.cancelled)
            .collect()
    }

    /// A company by id.
    pub fn company(&self, id: i64) -> Option<&Company> {
        self.companies.iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_must_match_in_any_field_ignoring_case() {
        assert!(matches(
            "email adv",
            &["EMAIL-ADV", "Email Security Advanced"]
        ));
        assert!(matches("", &["anything"]));
        assert!(!matches(
            "email basic",
            &["EMAIL-ADV", "Email Security Advanced"]
        ));
        assert!(matches("Security", &["x", "email security"]));
    }
}
