//! Reading vendor usage files: how many active users each customer
//! organization has on each vendor package.
//!
//! Pure: [`parse_usage`] reads only the bytes it is given.
//!
//! # Formats
//!
//! **CSV**: a header row naming exactly the four columns `org_id`,
//! `org_name`, `package` and `active_users`, in any order, then one row per
//! organization and package:
//!
//! ```text
//! org_id,org_name,package,active_users
//! pe-100482,Contoso,business,42
//! pe-100517,"Fabrikam, Inc.",advanced,21
//! ```
//!
//! **JSON**: an array of objects with the same four fields, `active_users`
//! a JSON integer:
//!
//! ```text
//! [{"org_id": "pe-100482", "org_name": "Contoso", "package": "business", "active_users": 42}]
//! ```
//!
//! Without a hint, a file whose first non-blank character is `[` or `{` is
//! JSON and anything else is CSV.
//!
//! An optional fifth column (or field) `domain` gives the organization's
//! e-mail or web domain (`contoso.com`); `seatsync map suggest` compares it
//! with the companies' websites. It may be empty (or `null`).
//!
//! # Rules
//!
//! The file is accepted whole or not at all: syncing half a file would bill
//! some customers from today's counts and others from yesterday's, so the
//! first bad row rejects everything, and the error names the CSV line
//! (1-based, counting the header as line 1) or the JSON array index
//! (0-based), the column, and what to fix.
//!
//! - Text fields are trimmed; none may be empty.
//! - `active_users` is a whole number from 0 to [`MAX_ACTIVE_USERS`], written
//!   with digits only (no sign, no decimal point, no exponent): a count of
//!   `12.0` or `1e3` most likely comes from a spreadsheet that changed the
//!   column's type, and guessing would risk billing the wrong quantity.
//! - One row per organization and package; every row of an organization
//!   gives the same name.
//! - The file is UTF-8 (a leading byte-order mark is ignored); empty files
//!   and files with no rows are rejected, because an empty export far more
//!   often means a failed export than a vendor with no customers.

// Everything public here is API for the CLI and daemon: document it all.
#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use thiserror::Error;

/// The largest `active_users` accepted. Far above any real organization, it
/// catches exports that put something else (an id, a byte count) in the
/// column.
pub const MAX_ACTIVE_USERS: u32 = 10_000_000;

/// The four columns (CSV) or fields (JSON) of a usage file.
pub const COLUMNS: [&str; 4] = ["org_id", "org_name", "package", "active_users"];

/// The optional column: the organization's domain.
pub const DOMAIN: &str = "domain";

/// A usage file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl UsageFormat {
    /// The format a file name suggests (`.csv`, `.json`, any case), if any.
    pub fn from_file_name(name: &str) -> Option<UsageFormat> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(UsageFormat::Csv),
            "json" => Some(UsageFormat::Json),
            _ => None,
        }
    }
}

/// Where in the file a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A CSV line, 1-based; the header is line 1.
    Line(u64),
    /// A JSON array element, 0-based.
    Index(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Index(i) => write!(f, "entry [{i}]"),
        }
    }
}

/// What is wrong with one field of one row.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RowProblem {
    /// A JSON object lacks the field.
    #[error("the field is missing; every entry needs org_id, org_name, package and active_users")]
    Missing,
    /// The field is empty (or only whitespace).
    #[error("the value is empty; fill it in or remove the row")]
    Empty,
    /// A JSON field has the wrong type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The JSON type wanted.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A JSON object has a field this format does not know.
    #[error(
        "unknown field; the fields are org_id, org_name, package and active_users (check the spelling)"
    )]
    UnknownField,
    /// A JSON object names the same field twice.
    #[error("the field appears twice in the same entry; keep one")]
    DuplicateField,
    /// The count is not written as a whole number.
    #[error("{value:?} is not a whole number of users; write digits only, e.g. 12")]
    NotAnInteger {
        /// The value as written.
        value: String,
    },
    /// The count is negative.
    #[error("{value:?} is negative; a count of active users is 0 or more")]
    Negative {
        /// The value as written.
        value: String,
    },
    /// The count has a fractional part (or a decimal point).
    #[error(
        "{value:?} is not a whole number; active users are counted in whole users (write e.g. 12, not 12.0)"
    )]
    Fractional {
        /// The value as written.
        value: String,
    },
    /// The count is above [`MAX_ACTIVE_USERS`].
    #[error(
        "{value:?} is more than the {MAX_ACTIVE_USERS} active users seatsync accepts; check that this column holds user counts"
    )]
    TooLarge {
        /// The value as written.
        value: String,
    },
    /// A CSV row has another number of fields than the header.
    #[error("the row has {found} fields but the header has 4; quote values that contain commas")]
    WrongFieldCount {
        /// The fields found.
        found: usize,
    },
    /// The organization and package were already given.
    #[error(
        "organization {org_id:?} already has a row for package {package:?} at {first}; keep one row per organization and package"
    )]
    DuplicatePackage {
        /// The organization.
        org_id: String,
        /// The package.
        package: String,
        /// Where the first row is.
        first: Location,
    },
    /// The organization was given another name before.
    #[error(
        "organization {org_id:?} is named {name:?} here but {first_name:?} at {first}; use one name per organization"
    )]
    ConflictingName {
        /// The organization.
        org_id: String,
        /// The name in this row.
        name: String,
        /// The name given first.
        first_name: String,
        /// Where the first name was given.
        first: Location,
    },
}

/// Why a usage file was rejected. Nothing from a rejected file is used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UsageError {
    /// The file has no content.
    #[error(
        "the usage file is empty; export the organizations' active users from the vendor again"
    )]
    Empty,
    /// The file has a header (CSV) or an empty array (JSON) but no rows.
    #[error(
        "the usage file has no rows (only a CSV header, or an empty JSON array); an export with no organizations is most likely a failed export, so nothing was changed"
    )]
    NoRows,
    /// The file is not valid UTF-8.
    #[error(
        "the usage file is not UTF-8 text (invalid byte at line {line}, byte offset {offset}); save or export it as UTF-8 and try again"
    )]
    NotUtf8 {
        /// The 1-based line of the first invalid byte.
        line: u64,
        /// The 0-based byte offset of the first invalid byte.
        offset: usize,
    },
    /// The CSV header is not the four expected columns.
    #[error(
        "line 1 (the CSV header): {problem}; the header must name exactly the columns org_id, org_name, package, active_users (in any order)"
    )]
    CsvHeader {
        /// What is wrong with the header.
        problem: String,
    },
    /// The CSV is malformed (e.g. an unterminated quote).
    #[error("line {line}: the CSV cannot be read ({message}); check the quoting of that line")]
    CsvSyntax {
        /// The 1-based line.
        line: u64,
        /// The CSV reader's message.
        message: String,
    },
    /// The JSON is malformed.
    #[error("the JSON cannot be read at line {line}, column {column}: {message}")]
    JsonSyntax {
        /// The 1-based line.
        line: usize,
        /// The 1-based column.
        column: usize,
        /// The JSON parser's message.
        message: String,
    },
    /// The JSON is well formed but not an array of objects.
    #[error(
        "the JSON must be an array of objects with org_id, org_name, package and active_users ({problem})"
    )]
    JsonShape {
        /// What was found instead.
        problem: String,
    },
    /// One field of one row is wrong.
    #[error("{at}{}: {problem}", column_suffix(at, column))]
    Row {
        /// Where the row is.
        at: Location,
        /// The column (CSV) or field (JSON) concerned; empty when the problem
        /// is the whole row.
        column: String,
        /// What is wrong (boxed: it is large, and errors are rare).
        problem: Box<RowProblem>,
    },
}

/// `, column x` (CSV) or `, field x` (JSON), or nothing for a whole row.
fn column_suffix(at: &Location, column: &str) -> String {
    match (column.is_empty(), at) {
        (true, _) => String::new(),
        (false, Location::Line(_)) => format!(", column {column}"),
        (false, Location::Index(_)) => format!(", field {column}"),
    }
}

/// One customer organization's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageOrg {
    /// The vendor's organization id.
    pub id: String,
    /// The organization's name, for display.
    pub name: String,
    /// Active users per package key.
    pub packages: BTreeMap<String, u32>,
    /// Its e-mail or web domain, when the file gives one.
    pub domain: Option<String>,
}

/// A parsed, validated usage file.
///
/// The fields are private so that every `Usage` went through the checks
/// above: no duplicate, no empty key, counts within range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    orgs: Vec<UsageOrg>,
}

impl Usage {
    /// The organizations, ordered by id.
    pub fn orgs(&self) -> &[UsageOrg] {
        &self.orgs
    }

    /// Every package key used by any organization, sorted.
    pub fn package_keys(&self) -> BTreeSet<&str> {
        self.orgs
            .iter()
            .flat_map(|o| o.packages.keys().map(String::as_str))
            .collect()
    }

    /// The number of (organization, package) rows.
    pub fn row_count(&self) -> usize {
        self.orgs.iter().map(|o| o.packages.len()).sum()
    }
}

/// One row being validated; the text fields already trimmed.
struct Row<'a> {
    at: Location,
    org_id: &'a str,
    org_name: &'a str,
    package: &'a str,
    active_users: u32,
    domain: Option<&'a str>,
}

/// Collects rows, enforcing the cross-row rules (duplicates, names).
#[derive(Default)]
struct Builder {
    orgs: BTreeMap<String, UsageOrg>,
    /// Where each org's name and each (org, package) were first given.
    name_at: HashMap<String, Location>,
    row_at: HashMap<(String, String), Location>,
}

impl Builder {
    fn push(&mut self, row: Row<'_>) -> Result<(), UsageError> {
        let key = (row.org_id.to_owned(), row.package.to_owned());
        if let Some(first) = self.row_at.get(&key) {
            return Err(UsageError::Row {
                at: row.at,
                column: "package".into(),
                problem: Box::new(RowProblem::DuplicatePackage {
                    org_id: key.0,
                    package: key.1,
                    first: *first,
                }),
            });
        }
        if let Some(org) = self.orgs.get(row.org_id)
            && org.name != row.org_name
        {
            return Err(UsageError::Row {
                at: row.at,
                column: "org_name".into(),
                problem: Box::new(RowProblem::ConflictingName {
                    org_id: row.org_id.to_owned(),
                    name: row.org_name.to_owned(),
                    first_name: org.name.clone(),
                    first: self.name_at[row.org_id],
                }),
            });
        }
        self.name_at.entry(row.org_id.to_owned()).or_insert(row.at);
        self.row_at.insert(key, row.at);
        self.orgs
            .entry(row.org_id.to_owned())
            .or_insert_with(|| UsageOrg {
                id: row.org_id.to_owned(),
                name: row.org_name.to_owned(),
                packages: BTreeMap::new(),
                domain: None,
            });
        let org = self
            .orgs
            .get_mut(row.org_id)
            .expect("the organization was just inserted");
        org.packages
            .insert(row.package.to_owned(), row.active_users);
        // The first row that gives a domain gives the organization's.
        if org.domain.is_none() {
            org.domain = row.domain.map(str::to_owned);
        }
        Ok(())
    }

    fn finish(self) -> Result<Usage, UsageError> {
        if self.orgs.is_empty() {
            return Err(UsageError::NoRows);
        }
        Ok(Usage {
            orgs: self.orgs.into_values().collect(),
        })
    }
}

/// Parses and validates a usage file (see the module documentation for the
/// formats and rules). `format` `None` detects the format from the content.
pub fn parse_usage(bytes: &[u8], format: Option<UsageFormat>) -> Result<Usage, UsageError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let offset = e.valid_up_to();
            let line = 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64;
            return Err(UsageError::NotUtf8 { line, offset });
        }
    };
    // Spreadsheet programs often save UTF-8 with a byte-order mark; it is
    // not part of the first column's name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(UsageError::Empty);
    }
    let format = format.unwrap_or_else(|| match text.trim_start().as_bytes().first() {
        Some(b'[' | b'{') => UsageFormat::Json,
        _ => UsageFormat::Csv,
    });
    match format {
        UsageFormat::Csv => parse_csv(text),
        UsageFormat::Json => parse_json(text),
    }
}

/// Checks a text field: trimmed, not empty.
fn text_field<'a>(at: Location, column: &str, value: &'a str) -> Result<&'a str, UsageError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(UsageError::Row {
            at,
            column: column.into(),
            problem: Box::new(RowProblem::Empty),
        });
    }
    Ok(value)
}

/// Checks a count written as text (CSV).
fn count_field(at: Location, value: &str) -> Result<u32, UsageError> {
    let fail = |problem| UsageError::Row {
        at,
        column: "active_users".into(),
        problem: Box::new(problem),
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(fail(RowProblem::Empty));
    }
    let owned = || value.to_owned();
    let unsigned = value.strip_prefix('-');
    let digits = unsigned.unwrap_or(value);
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if all_digits {
        // A negative zero is still zero users, but almost certainly a typo
        // or a subtraction: reject it with the other negatives.
        if unsigned.is_some() {
            return Err(fail(RowProblem::Negative { value: owned() }));
        }
        return match digits.parse::<u64>() {
            Ok(n) if n <= u64::from(MAX_ACTIVE_USERS) => {
                // In range, so it fits in u32.
                Ok(u32::try_from(n).map_err(|_| fail(RowProblem::TooLarge { value: owned() }))?)
            }
            // Digits that overflow u64 are too large as well.
            _ => Err(fail(RowProblem::TooLarge { value: owned() })),
        };
    }
    // Not plain digits: say as precisely as possible why.
    match value.parse::<f64>() {
        Ok(f) if f.is_finite() && f < 0.0 => Err(fail(RowProblem::Negative { value: owned() })),
        Ok(f) if f.is_finite() && digits.contains('.') && !digits.contains(['e', 'E']) => {
            Err(fail(RowProblem::Fractional { value: owned() }))
        }
        _ => Err(fail(RowProblem::NotAnInteger { value: owned() })),
    }
}

fn parse_csv(text: &str) -> Result<Usage, UsageError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        // Rows with the wrong number of fields are reported by us, with the
        // line number and a hint, rather than by the reader.
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let syntax = |e: csv::Error| UsageError::CsvSyntax {
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };

    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(syntax(e)),
        None => return Err(UsageError::Empty),
    };
    // Column index of each expected name, and of the optional domain.
    let mut index = [usize::MAX; 4];
    let mut domain_index = None;
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        if name == DOMAIN {
            if domain_index.replace(i).is_some() {
                return Err(UsageError::CsvHeader {
                    problem: format!("column {name:?} appears twice"),
                });
            }
            continue;
        }
        let Some(which) = COLUMNS.iter().position(|c| *c == name) else {
            let problem = if name.is_empty() {
                format!("column {} has no name", i + 1)
            } else {
                format!("unknown column {name:?}")
            };
            return Err(UsageError::CsvHeader { problem });
        };
        if index[which] != usize::MAX {
            return Err(UsageError::CsvHeader {
                problem: format!("column {name:?} appears twice"),
            });
        }
        index[which] = i;
    }
    if let Some(missing) = (0..4).find(|&w| index[w] == usize::MAX) {
        return Err(UsageError::CsvHeader {
            problem: format!("column {:?} is missing", COLUMNS[missing]),
        });
    }

    let mut builder = Builder::default();
    for record in records {
        let record = record.map_err(syntax)?;
        let at = Location::Line(record.position().map_or(0, |p| p.line()));
        if record.len() != header.len() {
            return Err(UsageError::Row {
                at,
                column: String::new(),
                problem: Box::new(RowProblem::WrongFieldCount {
                    found: record.len(),
                }),
            });
        }
        // As many fields as columns, and distinct indices: `get` cannot miss.
        let field = |w: usize| record.get(index[w]).unwrap_or("");
        let domain = domain_index
            .and_then(|i| record.get(i))
            .map(str::trim)
            .filter(|d| !d.is_empty());
        builder.push(Row {
            at,
            org_id: text_field(at, "org_id", field(0))?,
            org_name: text_field(at, "org_name", field(1))?,
            package: text_field(at, "package", field(2))?,
            active_users: count_field(at, field(3))?,
            domain,
        })?;
    }
    builder.finish()
}

/// One JSON array element's fields, in order, so that a field given twice
/// is caught (a `serde_json::Map` would silently keep the last).
struct RawEntry(Vec<(String, serde_json::Value)>);

/// The whole JSON document: an array of raw elements, each either an object
/// (`Ok`) or another JSON value (`Err`, with its type name).
struct RawArray(Vec<Result<RawEntry, &'static str>>);

impl<'de> serde::Deserialize<'de> for RawArray {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawArray;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawArray, A::Error> {
                let mut out = Vec::new();
                while let Some(el) = seq.next_element::<Element>()? {
                    out.push(el.0);
                }
                Ok(RawArray(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// An element that is an object, or the type name of what it is instead.
struct Element(Result<RawEntry, &'static str>);

impl<'de> serde::Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Element;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Element, A::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    fields.push((k, v));
                }
                Ok(Element(Ok(RawEntry(fields))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Element(Err("an array")))
            }
            fn visit_str<E>(self, _: &str) -> Result<Element, E> {
                Ok(Element(Err("a string")))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Element, E> {
                Ok(Element(Err("a boolean")))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Element, E> {
                Ok(Element(Err("a number")))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Element, E> {
                Ok(Element(Err("a number")))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Element, E> {
                Ok(Element(Err("a number")))
            }
            fn visit_unit<E>(self) -> Result<Element, E> {
                Ok(Element(Err("null")))
            }
        }
        d.deserialize_any(V)
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn json_count(at: Location, v: &serde_json::Value) -> Result<u32, UsageError> {
    let fail = |problem| UsageError::Row {
        at,
        column: "active_users".into(),
        problem: Box::new(problem),
    };
    let serde_json::Value::Number(n) = v else {
        return Err(fail(RowProblem::WrongType {
            expected: "a whole number",
            found: json_type(v),
        }));
    };
    let value = n.to_string();
    if let Some(u) = n.as_u64() {
        return match u32::try_from(u) {
            Ok(u) if u <= MAX_ACTIVE_USERS => Ok(u),
            _ => Err(fail(RowProblem::TooLarge { value })),
        };
    }
    if n.as_i64().is_some() {
        return Err(fail(RowProblem::Negative { value }));
    }
    // A float: `12.0`, `1.5`, `-3.5`, `1e300`.
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f < 0.0 {
        Err(fail(RowProblem::Negative { value }))
    } else if f > f64::from(MAX_ACTIVE_USERS) {
        Err(fail(RowProblem::TooLarge { value }))
    } else {
        Err(fail(RowProblem::Fractional { value }))
    }
}

fn parse_json(text: &str) -> Result<Usage, UsageError> {
    let raw: RawArray = serde_json::from_str(text).map_err(|e| match e.classify() {
        // The elements accept any JSON value, so a data error can only be
        // the top level not being an array.
        serde_json::error::Category::Data => UsageError::JsonShape {
            problem: format!(
                "the top level is {}",
                match text.trim_start().as_bytes().first() {
                    Some(b'{') => "an object",
                    Some(b'"') => "a string",
                    Some(b't' | b'f') => "a boolean",
                    Some(b'n') => "null",
                    _ => "a number",
                }
            ),
        },
        _ => UsageError::JsonSyntax {
            line: e.line(),
            column: e.column(),
            message: {
                let msg = e.to_string();
                msg.split(" at line ").next().unwrap_or(&msg).to_owned()
            },
        },
    })?;
    let mut builder = Builder::default();
    for (i, element) in raw.0.iter().enumerate() {
        let at = Location::Index(i);
        let entry = match element {
            Ok(entry) => entry,
            Err(found) => {
                return Err(UsageError::JsonShape {
                    problem: format!("entry [{i}] is {found}, not an object"),
                });
            }
        };
        let mut fields: [Option<&serde_json::Value>; 4] = [None; 4];
        let mut domain: Option<&str> = None;
        for (name, value) in &entry.0 {
            if name == DOMAIN {
                match value {
                    serde_json::Value::String(s) => {
                        domain = Some(s.trim()).filter(|d| !d.is_empty());
                    }
                    serde_json::Value::Null => {}
                    other => {
                        return Err(UsageError::Row {
                            at,
                            column: name.clone(),
                            problem: Box::new(RowProblem::WrongType {
                                expected: "a string or null",
                                found: json_type(other),
                            }),
                        });
                    }
                }
                continue;
            }
            let problem = match COLUMNS.iter().position(|c| c == name) {
                None => RowProblem::UnknownField,
                Some(w) if fields[w].is_some() => RowProblem::DuplicateField,
                Some(w) => {
                    fields[w] = Some(value);
                    continue;
                }
            };
            return Err(UsageError::Row {
                at,
                column: name.clone(),
                problem: Box::new(problem),
            });
        }
        let get = |w: usize| {
            fields[w].ok_or_else(|| UsageError::Row {
                at,
                column: COLUMNS[w].into(),
                problem: Box::new(RowProblem::Missing),
            })
        };
        let text = |w: usize| -> Result<&str, UsageError> {
            match get(w)? {
                serde_json::Value::String(s) => text_field(at, COLUMNS[w], s),
                other => Err(UsageError::Row {
                    at,
                    column: COLUMNS[w].into(),
                    problem: Box::new(RowProblem::WrongType {
                        expected: "a string",
                        found: json_type(other),
                    }),
                }),
            }
        };
        builder.push(Row {
            at,
            org_id: text(0)?,
            org_name: text(1)?,
            package: text(2)?,
            active_users: json_count(at, get(3)?)?,
            domain,
        })?;
    }
    builder.finish()
}
