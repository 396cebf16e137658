//! The contract's records, one Rust type per WIT type of `seatsync:psa/types`
//! (0.2). The WIT comments are the reference; these repeat the essentials.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::error::ConnectorError;

/// A PSA record id: signed 64-bit (ConnectWise's ids are positive 32-bit,
/// Autotask's 64-bit, HaloPSA has negative ones).
pub type RecordId = i64;

/// A decimal number as text (`4.75`, `-12`): exact, never a float.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Decimal(pub String);

impl Decimal {
    /// The decimal text of `value` (whole numbers without a fraction).
    pub fn from_f64(value: f64) -> Decimal {
        if value.fract() == 0.0 && value.abs() < 1e15 {
            Decimal(format!("{}", value as i64))
        } else {
            Decimal(format!("{value}"))
        }
    }

    /// The value as a float, for display and arithmetic that tolerates it;
    /// `None` when the text is not a number.
    pub fn to_f64(&self) -> Option<f64> {
        self.0.trim().parse().ok()
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Setting values by key, secrets included.
///
/// Kept as (key, value) pairs sorted by key, each key once: the shape the
/// WIT's `settings` list has, so that a host passes them to a component
/// ([`Settings::as_pairs`]) and a component takes them from the host
/// without copying each string or building a map on every call.
///
/// `Debug` shows the keys only: a value may be a secret, and only the
/// connector's description says which.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Settings(Vec<(String, String)>);

impl Settings {
    /// No settings.
    pub fn new() -> Settings {
        Settings::default()
    }

    /// Where `key` is, or would be inserted.
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        let i = self.position(key).ok()?;
        Some(self.0[i].1.as_str())
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        match self.position(&key) {
            Ok(i) => self.0[i].1 = value.into(),
            Err(i) => self.0.insert(i, (key, value.into())),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.position(key).ok()?;
        Some(self.0.remove(i).1)
    }

    /// Every (key, value), by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every (key, value) as owned pairs, by key, each key once: the WIT
    /// `settings` list. (A `Vec` because that is what generated bindings
    /// take for a `list` parameter.)
    pub fn as_pairs(&self) -> &Vec<(String, String)> {
        &self.0
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Whether no setting is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.keys()).finish()
    }
}

/// A later pair with the same key wins, as it would in a map.
impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Settings {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Settings {
        let mut pairs: Vec<(String, String)> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        // What a host sends is already sorted, each key once: kept as is.
        if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
            return Settings(pairs);
        }
        // A stable sort keeps pairs of one key in their order, so the
        // last of each run is the later one.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            match unique.last_mut() {
                Some(last) if last.0 == key => last.1 = value,
                _ => unique.push((key, value)),
            }
        }
        Settings(unique)
    }
}

/// One setting a connection needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingDescription {
    /// The key the value is passed under.
    pub key: String,
    /// A short label.
    pub label: String,
    /// What to enter and where to find it in the PSA.
    pub help: String,
    /// A secret: never shown back, kept apart, redacted everywhere.
    pub secret: bool,
    /// Whether a connection is unusable without it.
    pub required: bool,
    /// The value used when none is given.
    pub default_value: Option<String>,
}

/// What kind of value a product option takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum OptionKind {
    /// One of these values.
    Choice(Vec<String>),
    /// `true` or `false`.
    Flag,
    /// Free text.
    Text,
}

/// An option a mapped product carries into the lines the connector creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionDescription {
    /// The key.
    pub key: String,
    /// A short label.
    pub label: String,
    /// What it does.
    pub help: String,
    /// What values it takes.
    pub kind: OptionKind,
    /// The value when none is set.
    pub default_value: String,
}

impl OptionDescription {
    /// Checks `value` against the kind; the error says what is allowed.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match &self.kind {
            OptionKind::Choice(choices) if !choices.iter().any(|c| c == value) => Err(format!(
                "'{value}' is not a value of option '{}': use one of {}",
                self.key,
                choices.join(", ")
            )),
            OptionKind::Flag if value != "true" && value != "false" => Err(format!(
                "option '{}' is true or false, not '{value}'",
                self.key
            )),
            _ => Ok(()),
        }
    }
}

/// What a connector is and needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorDescription {
    /// The connector's name.
    pub name: String,
    /// The connector's own version.
    pub version: String,
    /// The PSA it speaks to.
    pub psa: String,
    /// What a billing line is called in this PSA.
    pub line_noun: String,
    /// What the contract a line belongs to is called.
    pub contract_noun: String,
    /// The settings a connection needs, in form order.
    pub settings: Vec<SettingDescription>,
    /// The options a mapped product can carry.
    pub line_options: Vec<OptionDescription>,
}

impl ConnectorDescription {
    /// The description of setting `key`.
    pub fn setting(&self, key: &str) -> Option<&SettingDescription> {
        self.settings.iter().find(|s| s.key == key)
    }

    /// The description of option `key`.
    pub fn option(&self, key: &str) -> Option<&OptionDescription> {
        self.line_options.iter().find(|o| o.key == key)
    }
}

/// One network endpoint a connector will contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Endpoint {
    /// `https`, or `http` for loopback testing.
    pub scheme: String,
    /// `host` or `host:port`.
    pub authority: String,
    /// What the connector contacts it for.
    pub role: EndpointRole,
}

impl Endpoint {
    /// The PSA's API at `scheme://authority`.
    pub fn api(scheme: impl Into<String>, authority: impl Into<String>) -> Endpoint {
        Endpoint {
            scheme: scheme.into(),
            authority: authority.into(),
            role: EndpointRole::Api,
        }
    }
}

/// What a connector contacts an endpoint for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointRole {
    /// The PSA's API: a request other than `GET` or `HEAD` may change its
    /// data (a write: counted, journaled, refused in a dry run).
    Api,
    /// Signing in or finding the API: no request changes billing data.
    Auth,
}

/// Where a connection's settings lead, for the host's sandbox.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkPlan {
    /// Every endpoint the operations will contact.
    pub endpoints: Vec<Endpoint>,
    /// Strings derived from secrets that must be redacted too.
    pub secrets: Vec<String>,
}

impl fmt::Debug for NetworkPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkPlan")
            .field("endpoints", &self.endpoints)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}

/// What `test-connection` learnt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    /// The API base URL the connector used.
    pub endpoint: String,
    /// The PSA's version, or empty.
    pub psa_version: String,
    /// Other facts, as (label, value).
    pub facts: Vec<(String, String)>,
    /// Settings the connector looked up, for the host to store.
    pub learned_settings: Settings,
}

impl ConnectionInfo {
    /// The fact labelled `label`, if reported.
    pub fn fact(&self, label: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.as_str())
    }
}

impl Serialize for Settings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Only ever the keys: values may be secrets.
        serializer.collect_seq(self.keys())
    }
}

/// A catalog item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    /// Its id.
    pub id: RecordId,
    /// The product id or SKU shown in the PSA.
    pub identifier: String,
    /// Its description.
    pub description: String,
    /// Inactive products are not mapped.
    pub inactive: bool,
    /// Whether it can be billed as a recurring line.
    pub billable_as_line: bool,
    /// The price per unit.
    pub price: Option<Decimal>,
    /// The cost per unit.
    pub cost: Option<Decimal>,
    /// Whether it is taxable, when the PSA says.
    pub taxable: Option<bool>,
    /// The PSA's product kind.
    pub kind: Option<String>,
}

/// A customer company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Company {
    /// Its id.
    pub id: RecordId,
    /// The short identifier, or empty.
    pub identifier: String,
    /// Its name.
    pub name: String,
    /// Its status name.
    pub status: Option<String>,
    /// Its website or e-mail domain.
    pub domain: Option<String>,
}

/// A contract whose billing lines are invoiced each period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contract {
    /// Its id.
    pub id: RecordId,
    /// Its name.
    pub name: String,
    /// The company it belongs to.
    pub company_id: RecordId,
    /// The contract type name.
    pub contract_type: Option<String>,
    /// Its status name.
    pub status: Option<String>,
    /// Cancelled or ended: nothing may be written to it.
    pub cancelled: bool,
    /// The first day.
    pub start: Option<String>,
    /// The last day, `None` for no end.
    pub end: Option<String>,
}

/// One vendor package of one organization, mapped to a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncLine {
    /// The vendor's package key.
    pub package_key: String,
    /// The product.
    pub product_id: RecordId,
    /// The active users: the quantity the billing line must have.
    pub quantity: u32,
    /// The mapped product's options, by key.
    pub options: BTreeMap<String, String>,
    /// Invoice text for a created line.
    pub description: Option<String>,
}

/// Everything `sync-organization` needs for one organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRequest {
    /// The company.
    pub company_id: RecordId,
    /// The contract whose lines carry the counts.
    pub contract_id: RecordId,
    /// One line per enabled, mapped package.
    pub lines: Vec<SyncLine>,
    /// Read and decide, write nothing.
    pub dry_run: bool,
    /// Today, `YYYY-MM-DD`.
    pub today: String,
    /// The day a created line starts billing, `YYYY-MM-DD`.
    pub start_date: String,
    /// Update existing lines' quantities.
    pub update_quantities: bool,
    /// Create missing lines.
    pub create_missing: bool,
}

/// What happened to one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum LineOutcome {
    /// A line was (or would be) created.
    Created,
    /// The line's quantity was (would be) changed from this.
    Updated {
        /// The quantity before.
        previous_quantity: Decimal,
    },
    /// The line already had the quantity.
    Unchanged,
    /// Several active lines (their ids), or several request lines for one
    /// product (no ids): nothing written.
    Conflict(Vec<RecordId>),
    /// Not attempted, for this reason.
    Skipped(String),
    /// The write failed.
    Failed(ConnectorError),
}

/// The result of one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineResult {
    /// The line's package key.
    pub package_key: String,
    /// The line's product.
    pub product_id: RecordId,
    /// The quantity asked for.
    pub quantity: u32,
    /// What happened.
    pub outcome: LineOutcome,
    /// The billing line concerned, when there is exactly one.
    pub line_id: Option<RecordId>,
    /// Its unit price, when the PSA reported it.
    pub unit_price: Option<Decimal>,
}

/// The result of one `sync-organization` call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    /// The request's company.
    pub company_id: RecordId,
    /// The request's contract.
    pub contract_id: RecordId,
    /// Whether nothing was written on purpose.
    pub dry_run: bool,
    /// One result per request line, in order.
    pub lines: Vec<LineResult>,
    /// HTTP requests sent, retries included.
    pub requests: u32,
    /// Writes the PSA accepted.
    pub writes: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_never_show_their_values() {
        let settings: Settings = [("site", "cw.example.com"), ("private-key", "s3cret")]
            .into_iter()
            .collect();
        assert_eq!(format!("{settings:?}"), r#"{"private-key", "site"}"#);
        assert_eq!(settings.get("private-key"), Some("s3cret"));
    }

    #[test]
    fn settings_are_kept_sorted_by_key_and_a_later_value_wins() {
        let mut settings: Settings = [
            ("site", "a"),
            ("codebase", "v1"),
            ("site", "b"),
            ("company-id", "x"),
            ("codebase", "v2"),
            ("site", "c"),
        ]
        .into_iter()
        .collect();
        let pairs = |s: &Settings| -> Vec<(String, String)> { s.as_pairs().to_vec() };
        let owned = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            pairs(&settings),
            owned(&[("codebase", "v2"), ("company-id", "x"), ("site", "c")])
        );
        settings.set("public-key", "p");
        settings.set("codebase", "v3");
        assert_eq!(settings.remove("company-id").as_deref(), Some("x"));
        assert_eq!(settings.remove("company-id"), None);
        assert_eq!(
            pairs(&settings),
            owned(&[("codebase", "v3"), ("public-key", "p"), ("site", "c")])
        );
        assert_eq!(settings.get("public-key"), Some("p"));
        assert_eq!(settings.get("client-id"), None);
        // Sorted input, as a host sends it, is taken as it is.
        let again: Settings = settings.as_pairs().iter().cloned().collect();
        assert_eq!(again, settings);
        assert_eq!(
            settings.keys().collect::<Vec<_>>(),
            ["codebase", "public-key", "site"]
        );
    }

    #[test]
    fn decimals_round_trip_whole_numbers_without_a_fraction() {
        assert_eq!(Decimal::from_f64(18.0).0, "18");
        assert_eq!(Decimal::from_f64(2.5).0, "2.5");
        assert_eq!(Decimal("4.75".into()).to_f64(), Some(4.75));
        assert_eq!(Decimal("many".into()).to_f64(), None);
    }

    #[test]
    fn options_are_checked_against_their_kind() {
        let bill = OptionDescription {
            key: "bill".into(),
            label: "Bill".into(),
            help: String::new(),
            kind: OptionKind::Choice(vec!["a".into(), "b".into()]),
            default_value: "a".into(),
        };
        assert!(bill.check("b").is_ok());
        assert_eq!(
            bill.check("c").unwrap_err(),
            "'c' is not a value of option 'bill': use one of a, b"
        );
        let flag = OptionDescription {
            kind: OptionKind::Flag,
            ..bill
        };
        assert!(flag.check("true").is_ok());
        assert!(flag.check("yes").is_err());
    }
}
