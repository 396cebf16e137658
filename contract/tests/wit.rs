//! The contract's WIT resolves offline, with the WASI packages vendored in
//! `wit/deps/`, and declares what the crate mirrors: `seatsync:psa@0.2.0`,
//! whose `plugin` world reaches the network through `wasi:http` and whose
//! `guest` world exports the connector; and the frozen 0.1.0 next to it.

use std::path::Path;

use wit_parser::{PackageId, Resolve, WorldId, WorldItem, WorldKey};

fn wit_dir(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Resolves the directory and returns the resolve and its main package.
fn resolve(relative: &str) -> (Resolve, PackageId) {
    let mut resolve = Resolve::default();
    let (package, _sources) = resolve
        .push_dir(wit_dir(relative))
        .unwrap_or_else(|e| panic!("{relative} does not resolve: {e:#}"));
    (resolve, package)
}

fn world(resolve: &Resolve, package: PackageId, name: &str) -> WorldId {
    *resolve.packages[package]
        .worlds
        .get(name)
        .unwrap_or_else(|| panic!("no world {name:?}"))
}

/// The interfaces of `items`, as `ns:pkg/name@version`.
fn interface_names<'a>(
    resolve: &Resolve,
    items: impl IntoIterator<Item = (&'a WorldKey, &'a WorldItem)>,
) -> Vec<String> {
    items
        .into_iter()
        .filter_map(|(_, item)| match item {
            WorldItem::Interface { id, .. } => resolve.id_of(*id),
            _ => None,
        })
        .collect()
}

#[test]
fn the_contract_is_seatsync_psa_0_2_0_and_resolves_offline() {
    let (resolve, package) = resolve("../wit");
    assert_eq!(
        resolve.packages[package].name.to_string(),
        "seatsync:psa@0.2.0"
    );

    let plugin = world(&resolve, package, "plugin");
    let imports = interface_names(&resolve, &resolve.worlds[plugin].imports);
    assert!(
        imports
            .iter()
            .any(|i| i == "wasi:http/outgoing-handler@0.2.2"),
        "the plugin world imports {imports:?}"
    );
    assert!(imports.iter().any(|i| i == "seatsync:psa/log@0.2.0"));
    let plugin_exports = interface_names(&resolve, &resolve.worlds[plugin].exports);
    assert_eq!(plugin_exports, ["seatsync:psa/connector@0.2.0"]);

    let guest = world(&resolve, package, "guest");
    let exports = interface_names(&resolve, &resolve.worlds[guest].exports);
    assert_eq!(exports, ["seatsync:psa/connector@0.2.0"]);
    let guest_imports = interface_names(&resolve, &resolve.worlds[guest].imports);
    assert!(
        guest_imports.iter().all(|i| i.starts_with("seatsync:psa/")),
        "the guest world imports no WASI: {guest_imports:?}"
    );
}

#[test]
fn the_frozen_0_1_0_contract_still_resolves() {
    let (resolve, package) = resolve("../wit/since_v0.1.0");
    assert_eq!(
        resolve.packages[package].name.to_string(),
        "seatsync:psa@0.1.0"
    );
    let world = world(&resolve, package, "connectwise-plugin");
    let exports = interface_names(&resolve, &resolve.worlds[world].exports);
    assert_eq!(exports, ["seatsync:psa/connector@0.1.0"]);
}

/// The connector's functions, in order; `end-line` takes the contract and
/// the line, and a day, and returns nothing but an error.
#[test]
fn the_connector_interface_has_its_functions_and_end_line_its_parameters() {
    let (resolve, package) = resolve("../wit");
    let connector = resolve.packages[package]
        .interfaces
        .get("connector")
        .copied()
        .expect("an interface named connector");
    let functions = &resolve.interfaces[connector].functions;
    let names: Vec<&str> = functions.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "describe",
            "plan-network",
            "test-connection",
            "list-products",
            "list-companies",
            "list-contracts",
            "sync-organization",
            "end-line",
        ]
    );
    let end_line = &functions["end-line"];
    let params: Vec<&str> = end_line.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(params, ["settings", "contract-id", "line-id", "day"]);
    assert!(
        end_line.docs.contents.as_deref().is_some_and(|d| {
            d.contains("only after a person confirmed") && d.contains("cancelledDate")
        }),
        "end-line is documented"
    );
}
