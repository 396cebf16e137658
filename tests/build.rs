//! Builds the test components (`tests/guests/*`: the hostile guest, the toy
//! PSA's connector) for `wasm32-wasip2` and exports each one's path as
//! `GUEST_<NAME>` (e.g. `GUEST_HOSTILE`).
//!
//! They are built into their own target directory, `target/guest-hostile`,
//! not the host's `target/guest`: a guest links the connector crate without
//! its `component` feature, and cargo names the connector's `cdylib` output
//! the same whatever its features, so building a guest there would replace
//! the host's embedded `seatsync_plugin.wasm` with an export-less module.

/// (package, env var suffix) of each guest.
const GUESTS: &[(&str, &str)] = &[
    ("seatsync-hostile-guest", "HOSTILE"),
    ("seatsync-toy-guest", "TOY"),
];

fn main() {
    let manifest_dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let packages: Vec<&str> = GUESTS.iter().map(|(package, _)| *package).collect();
    let built = seatsync_component_build::build(
        &manifest_dir,
        &packages,
        "guest-hostile",
        "SEATSYNC_HOSTILE_TARGET_DIR",
        &[
            "tests/guests",
            "plugin/src",
            "plugin/Cargo.toml",
            "wit",
            "Cargo.lock",
        ],
        "the hostile test guests",
    );
    for ((_, name), artifact) in GUESTS.iter().zip(built) {
        println!("cargo:rustc-env=GUEST_{name}={}", artifact.display());
    }
}
