//! Which version of the `seatsync:psa` contract a component was built
//! against, read from the names of the interfaces it exports.
//!
//! Like Zed's extension host, the runtime looks before it instantiates: a
//! component built against a contract this host does not speak is refused
//! with a message naming both versions, instead of failing to link with a
//! list of missing functions.

use super::RuntimeError;

/// The interface a connector exports, without its version.
pub const CONNECTOR_INTERFACE: &str = "seatsync:psa/connector";

/// The contract versions this host can run. The bindings are generated from
/// `wit/psa.wit`, whose package version is the first entry.
pub const SUPPORTED_CONTRACT_VERSIONS: &[&str] = &["0.1.0"];

/// Finds the contract version among a component's export names.
///
/// Returns the `X.Y.Z` of the first `seatsync:psa/connector@X.Y.Z` export,
/// `Ok(None)` when there is no connector export at all, and an error for a
/// connector export without a version (an unversioned contract cannot be
/// dispatched on).
pub fn connector_version<'a>(
    export_names: impl IntoIterator<Item = &'a str>,
) -> Result<Option<&'a str>, RuntimeError> {
    for name in export_names {
        let Some(rest) = name.strip_prefix(CONNECTOR_INTERFACE) else {
            continue;
        };
        if rest.is_empty() {
            return Err(RuntimeError::UnsupportedContract {
                found: "(none)".into(),
                supported: SUPPORTED_CONTRACT_VERSIONS.join(", "),
            });
        }
        if let Some(version) = rest.strip_prefix('@') {
            return Ok(Some(version));
        }
        // `seatsync:psa/connector-extra` and the like: another interface.
    }
    Ok(None)
}

/// Checks a component's export names: the connector interface must be there,
/// in a version this host supports. Returns that version.
pub fn check_contract<'a>(
    export_names: impl IntoIterator<Item = &'a str>,
) -> Result<String, RuntimeError> {
    let names: Vec<&str> = export_names.into_iter().collect();
    match connector_version(names.iter().copied())? {
        Some(v) if SUPPORTED_CONTRACT_VERSIONS.contains(&v) => Ok(v.to_string()),
        Some(v) => Err(RuntimeError::UnsupportedContract {
            found: v.to_string(),
            supported: SUPPORTED_CONTRACT_VERSIONS.join(", "),
        }),
        None => Err(RuntimeError::NoConnectorExport {
            exports: names.iter().map(|n| n.to_string()).collect(),
        }),
    }
}
