//! The contract versions this host runs, and the dispatch to each.
//!
//! Like Zed's extension host: each contract version is frozen in its own WIT
//! folder (`wit/since_v0.1.0/`; the current one is `wit/`), has one binding
//! module here (`v0_1`, ...) that converts to the latest contract types
//! ([`seatsync_contract`]), and the runtime reads which version a component
//! exports before instantiating it, runs any version semver-compatible with
//! one it knows, and refuses others with a message naming the versions it
//! supports.
//!
//! Everything version-specific is in the binding modules; the rest of the
//! runtime sees only [`Plugin`], [`PluginPre`], [`invoke`] and the latest
//! types.

pub(super) mod v0_1;
pub(super) mod v0_2;

use seatsync_contract::{
    Company, ConnectionInfo, ConnectorDescription, ConnectorError, Contract, NetworkPlan, Product,
    RecordId, Settings, SyncReport, SyncRequest,
};
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};

use super::RuntimeError;
use super::sandbox::CallState;

/// The interface a connector exports, without its version.
pub const CONNECTOR_INTERFACE: &str = "seatsync:psa/connector";

/// The contract versions this host runs (each with any later patch or, for
/// versions from 1.0, minor release of the same major).
pub const SUPPORTED_CONTRACT_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// A contract version this host has bindings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractVersion {
    /// `seatsync:psa@0.1.x`: ConnectWise-shaped (`wit/since_v0.1.0`).
    V0_1,
    /// `seatsync:psa@0.2.x`: PSA-neutral (`wit/`).
    V0_2,
}

impl ContractVersion {
    /// The version a component exporting `version` speaks, if this host
    /// runs it: the same `0.minor` (or, from 1.0, the same major), and a
    /// version not older than the one the bindings were made from.
    pub fn for_version(version: &str) -> Option<ContractVersion> {
        let (major, minor, _patch) = parse_semver(version)?;
        match (major, minor) {
            (0, 1) => Some(ContractVersion::V0_1),
            (0, 2) => Some(ContractVersion::V0_2),
            _ => None,
        }
    }
}

/// `X.Y.Z` (a pre-release or build suffix is ignored), as numbers.
fn parse_semver(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

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
                supported: supported(),
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
/// in a version this host runs. Returns that version as exported.
pub fn check_contract<'a>(
    export_names: impl IntoIterator<Item = &'a str>,
) -> Result<String, RuntimeError> {
    let names: Vec<&str> = export_names.into_iter().collect();
    match connector_version(names.iter().copied())? {
        Some(v) if ContractVersion::for_version(v).is_some() => Ok(v.to_string()),
        Some(v) => Err(RuntimeError::UnsupportedContract {
            found: v.to_string(),
            supported: supported(),
        }),
        None => Err(RuntimeError::NoConnectorExport {
            exports: names.iter().map(|n| n.to_string()).collect(),
        }),
    }
}

/// The supported versions, for messages: `0.1.x, 0.2.x`.
fn supported() -> String {
    SUPPORTED_CONTRACT_VERSIONS
        .iter()
        .map(|v| match v.rsplit_once('.') {
            Some((minor, _)) => format!("{minor}.x"),
            None => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A component pre-instantiated against the bindings of its version.
#[derive(Clone)]
pub(super) enum PluginPre {
    /// A 0.1.x component.
    V0_1(v0_1::ConnectwisePluginPre<CallState>),
    /// A 0.2.x component.
    V0_2(v0_2::GuestPre<CallState>),
}

/// An instance of the component.
pub(super) enum Plugin {
    /// A 0.1.x component.
    V0_1(v0_1::ConnectwisePlugin),
    /// A 0.2.x component.
    V0_2(v0_2::Guest),
}

impl PluginPre {
    /// Links the host's side of `version`'s world (the log import) and
    /// pre-instantiates `component`.
    pub(super) fn new(
        version: ContractVersion,
        linker: &mut Linker<CallState>,
        component: &Component,
    ) -> Result<PluginPre, RuntimeError> {
        let link = |e: wasmtime::Error| RuntimeError::Link(format!("{e:#}"));
        match version {
            ContractVersion::V0_1 => {
                v0_1::ConnectwisePlugin::add_to_linker::<CallState, HasSelf<CallState>>(
                    linker,
                    |s| s,
                )
                .map_err(link)?;
                let pre = linker.instantiate_pre(component).map_err(link)?;
                Ok(PluginPre::V0_1(
                    v0_1::ConnectwisePluginPre::new(pre).map_err(link)?,
                ))
            }
            ContractVersion::V0_2 => {
                v0_2::Guest::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)
                    .map_err(link)?;
                let pre = linker.instantiate_pre(component).map_err(link)?;
                Ok(PluginPre::V0_2(v0_2::GuestPre::new(pre).map_err(link)?))
            }
        }
    }

    /// A new instance in `store`.
    pub(super) async fn instantiate(
        &self,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<Plugin> {
        Ok(match self {
            PluginPre::V0_1(pre) => Plugin::V0_1(pre.instantiate_async(store).await?),
            PluginPre::V0_2(pre) => Plugin::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

/// What a call asks the connector to do. It borrows the request: the
/// bindings convert it to the version's own types anyway.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op<'a> {
    Describe,
    PlanNetwork,
    TestConnection,
    ListProducts,
    ListCompanies,
    ListContracts(Option<RecordId>),
    Sync(&'a SyncRequest),
    /// `end-line`: end `line_id` of `contract_id` on `day` (`YYYY-MM-DD`).
    EndLine {
        contract_id: RecordId,
        line_id: RecordId,
        day: &'a str,
    },
}

/// What the connector answered, in the latest contract types.
#[derive(Debug)]
pub(super) enum Output {
    Description(ConnectorDescription),
    Plan(Result<NetworkPlan, ConnectorError>),
    Info(Result<ConnectionInfo, ConnectorError>),
    Products(Result<Vec<Product>, ConnectorError>),
    Companies(Result<Vec<Company>, ConnectorError>),
    Contracts(Result<Vec<Contract>, ConnectorError>),
    Report(Result<SyncReport, ConnectorError>),
    Ended(Result<(), ConnectorError>),
}

/// Calls the export for `op` with `settings` and converts the answer.
pub(super) async fn invoke(
    plugin: &Plugin,
    store: &mut Store<CallState>,
    settings: &Settings,
    op: &Op<'_>,
) -> wasmtime::Result<Output> {
    match plugin {
        Plugin::V0_1(p) => v0_1::invoke(p.seatsync_psa_connector(), store, settings, op).await,
        Plugin::V0_2(p) => v0_2::invoke(p.seatsync_psa_connector(), store, settings, op).await,
    }
}

/// Why `version` cannot do `op` at all (an operation a later contract
/// added), before anything is sent; `None` when it can.
pub(super) fn not_in_contract(version: ContractVersion, op: &Op<'_>) -> Option<RuntimeError> {
    match (version, op) {
        (ContractVersion::V0_1, Op::EndLine { line_id, .. }) => {
            // 0.1 connectors are ConnectWise's, and say nothing of
            // themselves: the nouns are the host's own description of them.
            let d = v0_1::describe();
            Some(RuntimeError::NotInContract {
                version: "0.1".into(),
                operation: "end a line".into(),
                instead: format!("end {} {line_id} in {} yourself", d.line_noun, d.psa),
            })
        }
        _ => None,
    }
}

/// What a version answers without running the component (0.1 cannot
/// describe itself nor plan its network); `None` when the component must
/// be called.
pub(super) fn answered_by_host(
    version: ContractVersion,
    settings: &Settings,
    op: &Op<'_>,
) -> Option<Output> {
    match version {
        ContractVersion::V0_1 => v0_1::answered_by_host(settings, op),
        ContractVersion::V0_2 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_semver_compatible_with_a_known_one_run() {
        assert_eq!(
            ContractVersion::for_version("0.1.0"),
            Some(ContractVersion::V0_1)
        );
        assert_eq!(
            ContractVersion::for_version("0.1.7"),
            Some(ContractVersion::V0_1)
        );
        assert_eq!(
            ContractVersion::for_version("0.2.3"),
            Some(ContractVersion::V0_2)
        );
        assert_eq!(ContractVersion::for_version("0.3.0"), None);
        assert_eq!(ContractVersion::for_version("1.0.0"), None);
        assert_eq!(ContractVersion::for_version("0.1"), None);
        assert_eq!(ContractVersion::for_version("x.y.z"), None);
    }

    #[test]
    fn an_unknown_version_is_refused_naming_the_supported_ones() {
        let error = check_contract(["seatsync:psa/connector@0.3.0"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the component was built against seatsync:psa contract version 0.3.0, but this host \
             supports 0.1.x, 0.2.x: use a connector built for 0.1.x, 0.2.x, or upgrade the host"
        );
        assert_eq!(
            check_contract(["seatsync:psa/log@0.1.1", "seatsync:psa/connector@0.1.1"]).unwrap(),
            "0.1.1"
        );
    }
}
