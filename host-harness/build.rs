//! Builds the connector component (`plugin/`) for `wasm32-wasip2` with the
//! size-optimized `component` profile, so that `cargo build`, `cargo test`
//! and `cargo run` of the host always embed a component built from this
//! checkout (`SEATSYNC_COMPONENT_PATH`, read by `DEFAULT_COMPONENT`).

fn main() {
    let manifest_dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let built = seatsync_component_build::build(
        &manifest_dir,
        &["seatsync-plugin"],
        "guest",
        "SEATSYNC_GUEST_TARGET_DIR",
        &["plugin/src", "plugin/Cargo.toml", "wit", "Cargo.lock"],
        "the connector component",
    );
    println!(
        "cargo:rustc-env=SEATSYNC_COMPONENT_PATH={}",
        built[0].display()
    );
}
