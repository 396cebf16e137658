//! Packages, organizations, usage, and the sync plan built from them.

use std::collections::{BTreeMap, BTreeSet};

use super::db::{Conn, OptionalExtension, ToValue, params};
use chrono::{DateTime, NaiveDate, Utc};
use seatsync_contract::{RecordId, SyncLine, SyncRequest};

use super::{DataTypes, Store, StoreError, Ts, check_tenant};
use crate::usage::Usage;

/// How a package is billed: the catalog product it maps to, and the
/// options (as its connector describes them) the lines created for it get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageMapping {
    /// The catalog item's id.
    pub product_id: RecordId,
    /// The product's identifier (SKU), for display.
    pub product_identifier: Option<String>,
    /// The product's description, for display.
    pub product_description: Option<String>,
    /// The product's options by key (ConnectWise: `bill-method`,
    /// `taxable`); an option not set takes its described default.
    pub options: BTreeMap<String, String>,
}

/// Where an organization's counts go: a company and one of its contracts
/// (agreements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMapping {
    /// The company's id.
    pub company_id: RecordId,
    /// The contract's id.
    pub agreement_id: RecordId,
    /// The company's name, for display.
    pub company_name: Option<String>,
    /// The agreement's name, for display.
    pub agreement_name: Option<String>,
}

/// A package's switch and mapping as `mappings import` sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageChange {
    /// The package key.
    pub key: String,
    /// Its sync switch.
    pub enabled: bool,
    /// Its product, or `None` to unmap it.
    pub mapping: Option<PackageMapping>,
}

/// An organization's switch and mapping as `mappings import` sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgChange {
    /// The organization id.
    pub org_id: String,
    /// Its sync switch.
    pub enabled: bool,
    /// Its company and contract, or `None` to unmap it.
    pub mapping: Option<OrgMapping>,
}

/// A package as listed for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageView {
    /// The vendor's package key.
    pub key: String,
    /// The package's sync switch.
    pub enabled: bool,
    /// Its product, if mapped.
    pub mapping: Option<PackageMapping>,
    /// Organizations with this package in the current usage.
    pub orgs: u32,
    /// Active users on this package in the current usage, all organizations.
    pub active_users: u64,
}

/// An organization as listed for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgView {
    /// The vendor's organization id.
    pub org_id: String,
    /// The organization's name from the latest usage that mentioned it.
    pub name: String,
    /// The organization's sync switch.
    pub enabled: bool,
    /// Its company and agreement, if mapped.
    pub mapping: Option<OrgMapping>,
    /// Active users per package in the current usage (empty when the latest
    /// usage does not mention the organization).
    pub usage: BTreeMap<String, u32>,
    /// Its e-mail or web domain, from the latest usage that mentioned it.
    pub domain: Option<String>,
}

/// What replacing the usage did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageImportSummary {
    /// Organizations in the new usage.
    pub orgs: usize,
    /// (organization, package) rows in the new usage.
    pub rows: usize,
    /// Organizations seen for the first time (created enabled, unmapped).
    pub new_orgs: Vec<String>,
    /// Packages seen for the first time (created enabled, unmapped).
    pub new_packages: Vec<String>,
    /// Mapped, enabled organizations the new usage does not mention: they are
    /// not synced until a usage file mentions them again.
    pub missing_mapped_orgs: Vec<String>,
}

/// One organization ready to sync: its enabled, mapped packages and counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPlan {
    /// The vendor's organization id.
    pub org_id: String,
    /// The organization's name, for logs.
    pub org_name: String,
    /// The company it is mapped to.
    pub company_id: RecordId,
    /// The contract (agreement) it is mapped to.
    pub agreement_id: RecordId,
    /// One line per enabled, mapped package with usage, by package key.
    pub lines: Vec<SyncLine>,
}

impl OrgPlan {
    /// The connector request for this organization: `today` decides which
    /// lines count as ended, `start_date` is when created lines start
    /// billing.
    pub fn to_request(
        &self,
        data_types: DataTypes,
        dry_run: bool,
        today: NaiveDate,
        start_date: NaiveDate,
    ) -> SyncRequest {
        SyncRequest {
            company_id: self.company_id,
            contract_id: self.agreement_id,
            lines: self.lines.clone(),
            dry_run,
            today: today.format("%Y-%m-%d").to_string(),
            start_date: start_date.format("%Y-%m-%d").to_string(),
            update_quantities: data_types.user_counts,
            create_missing: data_types.packages,
        }
    }
}

fn check_id(what: &str, id: RecordId) -> Result<(), StoreError> {
    if id == 0 {
        Err(StoreError::InvalidInput(format!(
            "the {what} cannot be 0: look it up with `seatsync {}`",
            match what {
                "product id" => "products",
                "company id" => "companies",
                _ => "agreements",
            }
        )))
    } else {
        Ok(())
    }
}

/// A package's options as the JSON object stored.
fn options_json(options: &BTreeMap<String, String>) -> Result<String, StoreError> {
    serde_json::to_string(options)
        .map_err(|e| StoreError::InvalidInput(format!("cannot store the options: {e}")))
}

/// A package's stored options.
fn parse_options(json: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(json).map_err(|e| {
        StoreError::InvalidInput(format!(
            "a package's stored options are not a JSON object of texts ({e}): map the package again"
        ))
    })
}

/// Empty or blank display text is stored as NULL.
fn display_text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Store {
    fn package_keys(&self, tx: &Conn, tenant: &str) -> Result<Vec<String>, StoreError> {
        let ctx = "listing package keys";
        let mut stmt = tx
            .prepare("SELECT key FROM packages WHERE tenant = ?1 ORDER BY key")
            .map_err(|e| self.err(ctx, e))?;
        let rows = stmt
            .query_map([tenant], |r| r.get(0))
            .map_err(|e| self.err(ctx, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(ctx, e))
    }

    fn org_ids(&self, tx: &Conn, tenant: &str) -> Result<Vec<String>, StoreError> {
        let ctx = "listing organization ids";
        let mut stmt = tx
            .prepare("SELECT org_id FROM orgs WHERE tenant = ?1 ORDER BY org_id")
            .map_err(|e| self.err(ctx, e))?;
        let rows = stmt
            .query_map([tenant], |r| r.get(0))
            .map_err(|e| self.err(ctx, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(ctx, e))
    }

    /// Runs an `UPDATE` of one package; an unknown key is an error that lists
    /// the known ones.
    fn update_package(
        &self,
        tenant: &str,
        key: &str,
        ctx: &'static str,
        sql: &str,
        params: &[&dyn ToValue],
    ) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let tx = self.write_tx(ctx)?;
        let changed = tx.execute(sql, params).map_err(|e| self.err(ctx, e))?;
        if changed == 0 {
            return Err(StoreError::UnknownPackage {
                tenant: tenant.to_owned(),
                key: key.to_owned(),
                known: self.package_keys(&tx, tenant)?,
            });
        }
        tx.commit().map_err(|e| self.err(ctx, e))
    }

    fn update_org(
        &self,
        tenant: &str,
        org_id: &str,
        ctx: &'static str,
        sql: &str,
        params: &[&dyn ToValue],
    ) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let tx = self.write_tx(ctx)?;
        let changed = tx.execute(sql, params).map_err(|e| self.err(ctx, e))?;
        if changed == 0 {
            return Err(StoreError::UnknownOrg {
                tenant: tenant.to_owned(),
                org_id: org_id.to_owned(),
                known: self.org_ids(&tx, tenant)?,
            });
        }
        tx.commit().map_err(|e| self.err(ctx, e))
    }

    /// Maps a known package to a catalog product (replacing any mapping).
    /// Does not change the package's `enabled` switch.
    pub fn upsert_package_mapping(
        &self,
        tenant: &str,
        key: &str,
        mapping: &PackageMapping,
    ) -> Result<(), StoreError> {
        check_id("product id", mapping.product_id)?;
        self.update_package(
            tenant,
            key,
            "mapping a package",
            "UPDATE packages SET product_id = ?3, product_identifier = ?4,
                 product_description = ?5, options = ?6
             WHERE tenant = ?1 AND key = ?2",
            params![
                tenant,
                key,
                mapping.product_id,
                display_text(&mapping.product_identifier),
                display_text(&mapping.product_description),
                options_json(&mapping.options)?,
            ],
        )
    }

    /// Removes a package's product mapping, so it is no longer synced.
    pub fn clear_package_mapping(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        self.update_package(
            tenant,
            key,
            "unmapping a package",
            "UPDATE packages SET product_id = NULL, product_identifier = NULL,
                 product_description = NULL, options = '{}'
             WHERE tenant = ?1 AND key = ?2",
            params![tenant, key],
        )
    }

    /// Switches syncing of a known package on or off.
    pub fn set_package_enabled(
        &self,
        tenant: &str,
        key: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        self.update_package(
            tenant,
            key,
            "switching a package",
            "UPDATE packages SET enabled = ?3 WHERE tenant = ?1 AND key = ?2",
            params![tenant, key, enabled],
        )
    }

    /// Maps a known organization to a company and agreement (replacing any
    /// mapping). Does not change the organization's `enabled` switch.
    pub fn upsert_org_mapping(
        &self,
        tenant: &str,
        org_id: &str,
        mapping: &OrgMapping,
    ) -> Result<(), StoreError> {
        check_id("company id", mapping.company_id)?;
        check_id("agreement id", mapping.agreement_id)?;
        self.update_org(
            tenant,
            org_id,
            "mapping an organization",
            "UPDATE orgs SET company_id = ?3, agreement_id = ?4, company_name = ?5,
                 agreement_name = ?6
             WHERE tenant = ?1 AND org_id = ?2",
            params![
                tenant,
                org_id,
                mapping.company_id,
                mapping.agreement_id,
                display_text(&mapping.company_name),
                display_text(&mapping.agreement_name),
            ],
        )
    }

    /// Removes an organization's mapping, so it is no longer synced.
    pub fn clear_org_mapping(&self, tenant: &str, org_id: &str) -> Result<(), StoreError> {
        self.update_org(
            tenant,
            org_id,
            "unmapping an organization",
            "UPDATE orgs SET company_id = NULL, agreement_id = NULL, company_name = NULL,
                 agreement_name = NULL
             WHERE tenant = ?1 AND org_id = ?2",
            params![tenant, org_id],
        )
    }

    /// Switches syncing of a known organization on or off.
    pub fn set_org_enabled(
        &self,
        tenant: &str,
        org_id: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        self.update_org(
            tenant,
            org_id,
            "switching an organization",
            "UPDATE orgs SET enabled = ?3 WHERE tenant = ?1 AND org_id = ?2",
            params![tenant, org_id, enabled],
        )
    }

    /// Sets the switches and mappings of many packages and organizations at
    /// once (`seatsync mappings import`), all or nothing: one transaction,
    /// and an unknown key or id changes nothing. A change without a
    /// mapping unmaps.
    pub fn apply_mappings(
        &self,
        tenant: &str,
        packages: &[PackageChange],
        orgs: &[OrgChange],
    ) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let ctx = "importing mappings";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        for change in packages {
            let changed = match &change.mapping {
                Some(m) => {
                    check_id("product id", m.product_id)?;
                    tx.execute(
                        "UPDATE packages SET enabled = ?3, product_id = ?4, product_identifier = ?5,
                             product_description = ?6, options = ?7
                         WHERE tenant = ?1 AND key = ?2",
                        params![
                            tenant,
                            change.key,
                            change.enabled,
                            m.product_id,
                            display_text(&m.product_identifier),
                            display_text(&m.product_description),
                            options_json(&m.options)?,
                        ],
                    )
                }
                None => tx.execute(
                    "UPDATE packages SET enabled = ?3, product_id = NULL, product_identifier = NULL,
                         product_description = NULL, options = '{}'
                     WHERE tenant = ?1 AND key = ?2",
                    params![tenant, change.key, change.enabled],
                ),
            }
            .map_err(e)?;
            if changed == 0 {
                return Err(StoreError::UnknownPackage {
                    tenant: tenant.to_owned(),
                    key: change.key.clone(),
                    known: self.package_keys(&tx, tenant)?,
                });
            }
        }
        for change in orgs {
            let changed = match &change.mapping {
                Some(m) => {
                    check_id("company id", m.company_id)?;
                    check_id("agreement id", m.agreement_id)?;
                    tx.execute(
                        "UPDATE orgs SET enabled = ?3, company_id = ?4, agreement_id = ?5,
                             company_name = ?6, agreement_name = ?7
                         WHERE tenant = ?1 AND org_id = ?2",
                        params![
                            tenant,
                            change.org_id,
                            change.enabled,
                            m.company_id,
                            m.agreement_id,
                            display_text(&m.company_name),
                            display_text(&m.agreement_name),
                        ],
                    )
                }
                None => tx.execute(
                    "UPDATE orgs SET enabled = ?3, company_id = NULL, agreement_id = NULL,
                         company_name = NULL, agreement_name = NULL
                     WHERE tenant = ?1 AND org_id = ?2",
                    params![tenant, change.org_id, change.enabled],
                ),
            }
            .map_err(e)?;
            if changed == 0 {
                return Err(StoreError::UnknownOrg {
                    tenant: tenant.to_owned(),
                    org_id: change.org_id.clone(),
                    known: self.org_ids(&tx, tenant)?,
                });
            }
        }
        tx.commit().map_err(e)
    }

    /// Replaces the tenant's whole usage with `usage`, in one transaction.
    ///
    /// Unknown organizations and packages are created enabled and unmapped;
    /// known organizations take the name in `usage`; mappings of anything
    /// the new usage does not mention are kept (see the module docs).
    pub fn replace_usage(
        &self,
        tenant: &str,
        usage: &Usage,
    ) -> Result<UsageImportSummary, StoreError> {
        check_tenant(tenant)?;
        let ctx = "replacing the usage";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;

        let known_orgs: BTreeSet<String> = self.org_ids(&tx, tenant)?.into_iter().collect();
        let known_packages: BTreeSet<String> =
            self.package_keys(&tx, tenant)?.into_iter().collect();
        let mut summary = UsageImportSummary {
            orgs: usage.orgs().len(),
            rows: usage.row_count(),
            ..Default::default()
        };

        tx.execute("DELETE FROM usage WHERE tenant = ?1", [tenant])
            .map_err(e)?;
        {
            let mut add_package = tx
                .prepare("INSERT INTO packages (tenant, key) VALUES (?1, ?2)")
                .map_err(e)?;
            for key in usage.package_keys() {
                if !known_packages.contains(key) {
                    add_package.execute([tenant, key]).map_err(e)?;
                    summary.new_packages.push(key.to_owned());
                }
            }
            let mut upsert_org = tx
                .prepare(
                    "INSERT INTO orgs (tenant, org_id, name, domain) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant, org_id) DO UPDATE SET name = excluded.name,
                         domain = excluded.domain",
                )
                .map_err(e)?;
            let mut add_usage = tx
                .prepare(
                    "INSERT INTO usage (tenant, org_id, package_key, active_users)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(e)?;
            for org in usage.orgs() {
                upsert_org
                    .execute(params![tenant, org.id, org.name, org.domain])
                    .map_err(e)?;
                if !known_orgs.contains(&org.id) {
                    summary.new_orgs.push(org.id.clone());
                }
                for (package, count) in &org.packages {
                    add_usage
                        .execute(params![tenant, org.id, package, count])
                        .map_err(e)?;
                }
            }
            let mut missing = tx
                .prepare(
                    "SELECT org_id FROM orgs o WHERE tenant = ?1 AND enabled = 1
                         AND company_id IS NOT NULL
                         AND NOT EXISTS (SELECT 1 FROM usage u
                                         WHERE u.tenant = o.tenant AND u.org_id = o.org_id)
                     ORDER BY org_id",
                )
                .map_err(e)?;
            summary.missing_mapped_orgs = missing
                .query_map([tenant], |r| r.get(0))
                .map_err(e)?
                .collect::<Result<_, _>>()
                .map_err(e)?;
        }
        tx.execute(
            "UPDATE tenants SET usage_imported_at = ?2 WHERE name = ?1",
            params![tenant, Ts(self.now())],
        )
        .map_err(e)?;
        // Plans were made from the usage replaced: they expire with it.
        tx.execute(
            "UPDATE plans SET superseded_at = ?2
             WHERE tenant = ?1 AND applied_at IS NULL AND superseded_at IS NULL",
            params![tenant, Ts(self.now())],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(summary)
    }

    /// When the tenant's usage was last replaced, if ever.
    pub fn usage_imported_at(&self, tenant: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        check_tenant(tenant)?;
        let ctx = "reading the usage import time";
        let t: Option<Option<Ts>> = self
            .conn
            .query_row(
                "SELECT usage_imported_at FROM tenants WHERE name = ?1",
                [tenant],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(ctx, e))?;
        Ok(t.flatten().map(|t| t.0))
    }

    /// The tenant's packages, by key, with mapping and current usage totals.
    pub fn list_packages(&self, tenant: &str) -> Result<Vec<PackageView>, StoreError> {
        check_tenant(tenant)?;
        let ctx = "listing packages";
        let e = |e| self.err(ctx, e);
        let tx = self.read_tx(ctx)?;
        let mut stmt = tx
            .prepare(
                "SELECT p.key, p.enabled, p.product_id, p.product_identifier,
                        p.product_description, p.options,
                        count(u.org_id), CAST(coalesce(sum(u.active_users), 0) AS BIGINT)
                 FROM packages p
                 LEFT JOIN usage u ON u.tenant = p.tenant AND u.package_key = p.key
                 WHERE p.tenant = ?1
                 GROUP BY p.key, p.enabled, p.product_id, p.product_identifier,
                     p.product_description, p.options
                 ORDER BY p.key",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map([tenant], |r| {
                let view = PackageView {
                    key: r.get(0)?,
                    enabled: r.get(1)?,
                    mapping: None,
                    orgs: r.get(6)?,
                    active_users: r.get::<_, i64>(7)?.max(0) as u64,
                };
                let product_id: Option<RecordId> = r.get(2)?;
                let identifier: Option<String> = r.get(3)?;
                let description: Option<String> = r.get(4)?;
                let options: String = r.get(5)?;
                Ok((view, product_id, identifier, description, options))
            })
            .map_err(e)?;
        let mut out = Vec::new();
        for row in rows {
            let (mut view, product_id, identifier, description, options) = row.map_err(e)?;
            if let Some(product_id) = product_id {
                view.mapping = Some(PackageMapping {
                    product_id,
                    product_identifier: identifier,
                    product_description: description,
                    options: parse_options(&options)?,
                });
            }
            out.push(view);
        }
        Ok(out)
    }

    /// The tenant's organizations, by id, with mapping and current usage.
    pub fn list_orgs(&self, tenant: &str) -> Result<Vec<OrgView>, StoreError> {
        check_tenant(tenant)?;
        let ctx = "listing organizations";
        let e = |e| self.err(ctx, e);
        let tx = self.read_tx(ctx)?;
        let mut out: Vec<OrgView> = {
            let mut stmt = tx
                .prepare(
                    "SELECT org_id, name, enabled, company_id, agreement_id, company_name,
                            agreement_name, domain
                     FROM orgs WHERE tenant = ?1 ORDER BY org_id",
                )
                .map_err(e)?;
            stmt.query_map([tenant], |r| {
                let company_id: Option<RecordId> = r.get(3)?;
                let agreement_id: Option<RecordId> = r.get(4)?;
                Ok(OrgView {
                    org_id: r.get(0)?,
                    name: r.get(1)?,
                    enabled: r.get(2)?,
                    mapping: match (company_id, agreement_id) {
                        (Some(company_id), Some(agreement_id)) => Some(OrgMapping {
                            company_id,
                            agreement_id,
                            company_name: r.get(5)?,
                            agreement_name: r.get(6)?,
                        }),
                        _ => None,
                    },
                    usage: BTreeMap::new(),
                    domain: r.get(7)?,
                })
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?
        };
        let mut stmt = tx
            .prepare(
                "SELECT org_id, package_key, active_users FROM usage WHERE tenant = ?1
                 ORDER BY org_id, package_key",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map([tenant], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                ))
            })
            .map_err(e)?;
        // Both lists are sorted by org id: walk them together.
        let mut i = 0;
        for row in rows {
            let (org_id, package, count) = row.map_err(e)?;
            while i < out.len() && out[i].org_id < org_id {
                i += 1;
            }
            if let Some(org) = out.get_mut(i).filter(|o| o.org_id == org_id) {
                org.usage.insert(package, count);
            }
        }
        Ok(out)
    }

    /// Every enabled, mapped organization with its enabled, mapped packages
    /// that have usage, ready to become [`SyncRequest`]s; organizations with
    /// no such package are left out. Ordered by org id, lines by package key.
    pub fn sync_plan(&self, tenant: &str) -> Result<Vec<OrgPlan>, StoreError> {
        check_tenant(tenant)?;
        let ctx = "building the sync plan";
        let e = |e| self.err(ctx, e);
        let tx = self.read_tx(ctx)?;
        let mut stmt = tx
            .prepare(
                "SELECT o.org_id, o.name, o.company_id, o.agreement_id,
                        u.package_key, u.active_users, p.product_id, p.options
                 FROM orgs o
                 JOIN usage u ON u.tenant = o.tenant AND u.org_id = o.org_id
                 JOIN packages p ON p.tenant = u.tenant AND p.key = u.package_key
                 WHERE o.tenant = ?1 AND o.enabled = 1 AND o.company_id IS NOT NULL
                   AND o.agreement_id IS NOT NULL
                   AND p.enabled = 1 AND p.product_id IS NOT NULL
                 ORDER BY o.org_id, u.package_key",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map([tenant], |r| {
                Ok((
                    (
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, RecordId>(2)?,
                        r.get::<_, RecordId>(3)?,
                    ),
                    (
                        r.get::<_, String>(4)?,
                        r.get::<_, u32>(5)?,
                        r.get::<_, RecordId>(6)?,
                        r.get::<_, String>(7)?,
                    ),
                ))
            })
            .map_err(e)?;
        let mut plans: Vec<OrgPlan> = Vec::new();
        for row in rows {
            let ((org_id, org_name, company_id, agreement_id), line) = row.map_err(e)?;
            let (package_key, quantity, product_id, options) = line;
            let line = SyncLine {
                package_key,
                product_id,
                quantity,
                options: parse_options(&options)?,
                description: None,
            };
            match plans.last_mut() {
                Some(plan) if plan.org_id == org_id => plan.lines.push(line),
                _ => plans.push(OrgPlan {
                    org_id,
                    org_name,
                    company_id,
                    agreement_id,
                    lines: vec![line],
                }),
            }
        }
        Ok(plans)
    }
}
