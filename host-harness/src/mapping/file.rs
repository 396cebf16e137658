//! The mappings file (`seatsync mappings export` / `import`): every package
//! and organization with its switch and mapping, as CSV a person edits in a
//! spreadsheet, or JSON. Pure: reading and writing text.
//!
//! CSV columns: `kind,id,name,enabled,product_id,options,company_id,agreement_id`.
//! A `package` row has a product and its options (`key=value;key=value`);
//! an `org` row a company and a contract (agreement). An empty product, or
//! an empty company and contract, unmaps. `enabled` is `true` or `false`.

use std::collections::BTreeMap;

use seatsync_contract::RecordId;
use serde::{Deserialize, Serialize};

use crate::store::{OrgView, PackageView};

/// The CSV header, in order.
pub const CSV_HEADER: [&str; 8] = [
    "kind",
    "id",
    "name",
    "enabled",
    "product_id",
    "options",
    "company_id",
    "agreement_id",
];

/// One row of a mappings file, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRow {
    /// The line of the file (CSV: 1 is the header), or the entry's position
    /// in its JSON list (1-based).
    pub line: usize,
    /// What it sets.
    pub entry: MappingEntry,
}

/// What one row sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingEntry {
    /// A package's switch and product.
    Package {
        /// The package key.
        key: String,
        /// Its switch.
        enabled: bool,
        /// Its product and options, or `None` to unmap.
        product: Option<(RecordId, Vec<(String, String)>)>,
    },
    /// An organization's switch, company and contract.
    Org {
        /// The organization id.
        org_id: String,
        /// Its switch.
        enabled: bool,
        /// Its company and contract, or `None` to unmap.
        contract: Option<(RecordId, RecordId)>,
    },
}

/// A mappings file that cannot be read: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct FileError {
    /// The line (CSV) or entry (JSON), 1-based.
    pub line: usize,
    /// What is wrong, and what to do.
    pub reason: String,
}

/// The JSON form: two lists.
#[derive(Debug, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct JsonFile {
    /// The packages.
    #[serde(default)]
    pub packages: Vec<JsonPackage>,
    /// The organizations.
    #[serde(default)]
    pub organizations: Vec<JsonOrg>,
}

/// A package in the JSON form.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPackage {
    /// The package key.
    pub key: String,
    /// Its switch.
    pub enabled: bool,
    /// Its product (`null`: unmapped).
    pub product_id: Option<RecordId>,
    /// Its options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// An organization in the JSON form.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonOrg {
    /// The organization id.
    pub org_id: String,
    /// Its name (for people; not imported).
    #[serde(default)]
    pub name: String,
    /// Its switch.
    pub enabled: bool,
    /// Its company (`null`: unmapped).
    pub company_id: Option<RecordId>,
    /// Its contract (`null`: unmapped).
    pub agreement_id: Option<RecordId>,
}

/// The tenant's mappings as CSV.
pub fn to_csv(packages: &[PackageView], orgs: &[OrgView]) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_HEADER)?;
    for p in packages {
        let (product, options) = match &p.mapping {
            Some(m) => (
                m.product_id.to_string(),
                m.options
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            None => (String::new(), String::new()),
        };
        out.write_record([
            "package",
            &p.key,
            "",
            bool_text(p.enabled),
            &product,
            &options,
            "",
            "",
        ])?;
    }
    for o in orgs {
        let (company, agreement) = match &o.mapping {
            Some(m) => (m.company_id.to_string(), m.agreement_id.to_string()),
            None => (String::new(), String::new()),
        };
        out.write_record([
            "org",
            &o.org_id,
            &o.name,
            bool_text(o.enabled),
            "",
            "",
            &company,
            &agreement,
        ])?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The tenant's mappings as JSON.
pub fn to_json(packages: &[PackageView], orgs: &[OrgView]) -> JsonFile {
    JsonFile {
        packages: packages
            .iter()
            .map(|p| JsonPackage {
                key: p.key.clone(),
                enabled: p.enabled,
                product_id: p.mapping.as_ref().map(|m| m.product_id),
                options: p
                    .mapping
                    .as_ref()
                    .map(|m| m.options.clone())
                    .unwrap_or_default(),
            })
            .collect(),
        organizations: orgs
            .iter()
            .map(|o| JsonOrg {
                org_id: o.org_id.clone(),
                name: o.name.clone(),
                enabled: o.enabled,
                company_id: o.mapping.as_ref().map(|m| m.company_id),
                agreement_id: o.mapping.as_ref().map(|m| m.agreement_id),
            })
            .collect(),
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// Reads a mappings file: JSON when it starts with `{`, CSV otherwise.
pub fn parse(bytes: &[u8]) -> Result<Vec<MappingRow>, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FileError {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        reason: "the file is not UTF-8 text: save it as UTF-8 (CSV UTF-8 in a spreadsheet)".into(),
    })?;
    let text = text.trim_start_matches('\u{feff}');
    if text.trim_start().starts_with('{') {
        parse_json(text)
    } else {
        parse_csv(text)
    }
}

fn parse_json(text: &str) -> Result<Vec<MappingRow>, FileError> {
    let file: JsonFile = serde_json::from_str(text).map_err(|e| FileError {
        line: e.line(),
        reason: format!("not a mappings JSON file: {e}"),
    })?;
    let mut rows = Vec::new();
    for (i, p) in file.packages.into_iter().enumerate() {
        let line = i + 1;
        let product = match p.product_id {
            Some(id) => Some((
                nonzero(id, line, "product_id")?,
                p.options.into_iter().collect(),
            )),
            None => None,
        };
        rows.push(MappingRow {
            line,
            entry: MappingEntry::Package {
                key: p.key,
                enabled: p.enabled,
                product,
            },
        });
    }
    for (i, o) in file.organizations.into_iter().enumerate() {
        let line = i + 1;
        let contract = contract_of(o.company_id, o.agreement_id, line)?;
        rows.push(MappingRow {
            line,
            entry: MappingEntry::Org {
                org_id: o.org_id,
                enabled: o.enabled,
                contract,
            },
        });
    }
    Ok(rows)
}

fn parse_csv(text: &str) -> Result<Vec<MappingRow>, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| FileError {
        line: 1,
        reason: format!("the header cannot be read: {e}"),
    })?;
    if header.iter().collect::<Vec<_>>() != CSV_HEADER {
        return Err(FileError {
            line: 1,
            reason: format!(
                "the header must be {} (as `seatsync mappings export` writes it)",
                CSV_HEADER.join(",")
            ),
        });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| FileError {
            line: e.position().map_or(0, |p| p.line() as usize),
            reason: format!("{e}"),
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |i: usize| record.get(i).unwrap_or_default();
        let enabled = match field(3).to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => true,
            "false" | "no" | "0" | "off" => false,
            other => {
                return Err(FileError {
                    line,
                    reason: format!("enabled is true or false, not '{other}'"),
                });
            }
        };
        let id = field(1).to_string();
        if id.is_empty() {
            return Err(FileError {
                line,
                reason: "the id is empty: give the package key or organization id".into(),
            });
        }
        let entry = match field(0) {
            "package" => {
                if !field(6).is_empty() || !field(7).is_empty() {
                    return Err(FileError {
                        line,
                        reason: "a package row has no company_id or agreement_id".into(),
                    });
                }
                let product = match optional_id(field(4), line, "product_id")? {
                    Some(id) => Some((id, options(field(5), line)?)),
                    None if !field(5).is_empty() => {
                        return Err(FileError {
                            line,
                            reason: "options without a product_id: give the product, or clear the options"
                                .into(),
                        });
                    }
                    None => None,
                };
                MappingEntry::Package {
                    key: id,
                    enabled,
                    product,
                }
            }
            "org" => {
                if !field(4).is_empty() || !field(5).is_empty() {
                    return Err(FileError {
                        line,
                        reason: "an org row has no product_id or options".into(),
                    });
                }
                let contract = contract_of(
                    optional_id(field(6), line, "company_id")?,
                    optional_id(field(7), line, "agreement_id")?,
                    line,
                )?;
                MappingEntry::Org {
                    org_id: id,
                    enabled,
                    contract,
                }
            }
            other => {
                return Err(FileError {
                    line,
                    reason: format!("kind is package or org, not '{other}'"),
                });
            }
        };
        rows.push(MappingRow { line, entry });
    }
    Ok(rows)
}

fn optional_id(text: &str, line: usize, what: &str) -> Result<Option<RecordId>, FileError> {
    if text.is_empty() {
        return Ok(None);
    }
    let id: RecordId = text.parse().map_err(|_| FileError {
        line,
        reason: format!("{what} '{text}' is not a record id (a whole number)"),
    })?;
    nonzero(id, line, what).map(Some)
}

fn nonzero(id: RecordId, line: usize, what: &str) -> Result<RecordId, FileError> {
    if id == 0 {
        return Err(FileError {
            line,
            reason: format!("{what} cannot be 0"),
        });
    }
    Ok(id)
}

fn contract_of(
    company: Option<RecordId>,
    agreement: Option<RecordId>,
    line: usize,
) -> Result<Option<(RecordId, RecordId)>, FileError> {
    match (company, agreement) {
        (Some(c), Some(a)) => Ok(Some((c, a))),
        (None, None) => Ok(None),
        _ => Err(FileError {
            line,
            reason: "give both company_id and agreement_id, or neither to unmap".into(),
        }),
    }
}

fn options(text: &str, line: usize) -> Result<Vec<(String, String)>, FileError> {
    text.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| FileError {
                    line,
                    reason: format!("the option '{pair}' is not KEY=VALUE"),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_parse_with_their_lines() {
        let text = "kind,id,name,enabled,product_id,options,company_id,agreement_id\n\
                    package,business,,true,19,bill-method=billable;taxable=false,,\n\
                    package,pro,,false,,,,\n\
                    org,pe-1,\"Contoso, Ltd\",true,,,254,102\n\
                    org,pe-2,Fabrikam,false,,,,\n";
        let rows = parse(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[0],
            MappingRow {
                line: 2,
                entry: MappingEntry::Package {
                    key: "business".into(),
                    enabled: true,
                    product: Some((
                        19,
                        vec![
                            ("bill-method".into(), "billable".into()),
                            ("taxable".into(), "false".into())
                        ]
                    )),
                }
            }
        );
        assert_eq!(
            rows[3].entry,
            MappingEntry::Org {
                org_id: "pe-2".into(),
                enabled: false,
                contract: None
            }
        );
        assert_eq!(rows[2].line, 4);
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let header = "kind,id,name,enabled,product_id,options,company_id,agreement_id\n";
        let bad = |row: &str| {
            parse(format!("{header}package,ok,,true,19,,,\n{row}\n").as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad("org,pe-1,X,true,,,254,"),
            "line 3: give both company_id and agreement_id, or neither to unmap"
        );
        assert_eq!(
            bad("org,pe-1,X,maybe,,,254,102"),
            "line 3: enabled is true or false, not 'maybe'"
        );
        assert_eq!(
            bad("customer,pe-1,X,true,,,254,102"),
            "line 3: kind is package or org, not 'customer'"
        );
        assert_eq!(
            bad("package,b,,true,nineteen,,,"),
            "line 3: product_id 'nineteen' is not a record id (a whole number)"
        );
        assert_eq!(
            bad("package,b,,true,19,bill-method,,"),
            "line 3: the option 'bill-method' is not KEY=VALUE"
        );
        assert!(
            bad("package,b,,true,19,,").starts_with("line 3:"),
            "{}",
            bad("package,b,,true,19,,")
        );
        let header_wrong = parse(b"kind,key\npackage,b\n").unwrap_err();
        assert_eq!(header_wrong.line, 1);
    }

    #[test]
    fn json_files_parse_too() {
        let rows = parse(
            br#"{"packages": [{"key": "b", "enabled": true, "product_id": 19, "options": {"taxable": "true"}}],
                 "organizations": [{"org_id": "pe-1", "enabled": true, "company_id": 254, "agreement_id": 102}]}"#,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        let err = parse(br#"{"organizations": [{"org_id": "pe-1", "enabled": true, "company_id": 254, "agreement_id": null}]}"#)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: give both company_id and agreement_id, or neither to unmap"
        );
    }
}
