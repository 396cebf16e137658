//! Builds the connector component (`plugin/`) for `wasm32-wasip2` with the
//! size-optimized `component` profile, so that `cargo build`, `cargo test`
//! and `cargo run` of the host always embed a component built from this
//! checkout. This is the pattern of wasmtime's `test-programs` artifacts.
//!
//! The component is built into its own target directory: the outer cargo
//! holds the lock on the main one for as long as this script runs.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "component";

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let workspace = manifest_dir
        .parent()
        .expect("host-harness lives inside the workspace")
        .to_path_buf();
    for watched in ["plugin/src", "plugin/Cargo.toml", "wit", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=SEATSYNC_GUEST_TARGET_DIR");

    ensure_target_installed();

    let target_dir = std::env::var_os("SEATSYNC_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target").join("guest"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args([
            "--package",
            "seatsync-plugin",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--locked",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // Settings meant for the outer (host) build must not leak into the
    // guest's: flags, wrappers (clippy's), and a target dir override.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the component: {e}"));
    if !status.success() {
        panic!("building the connector component failed: see the cargo output above");
    }
    let component = target_dir
        .join(TARGET)
        .join(PROFILE)
        .join("seatsync_plugin.wasm");
    if !component.is_file() {
        panic!(
            "the component build succeeded but {} is missing",
            component.display()
        );
    }
    println!(
        "cargo:rustc-env=SEATSYNC_COMPONENT_PATH={}",
        component.display()
    );
}

/// A fresh machine has the Rust toolchain but not the `wasm32-wasip2`
/// standard library; add it with rustup, which installed the toolchain.
fn ensure_target_installed() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = |root: &Path| root.join("lib/rustlib").join(TARGET).join("lib").is_dir();
    if sysroot.as_deref().is_some_and(installed) {
        return;
    }
    println!(
        "cargo:warning=installing the {TARGET} target with rustup (needed to build the connector component)"
    );
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match added {
        Ok(s) if s.success() => {}
        _ => panic!(
            "the {TARGET} target is not installed and `rustup target add {TARGET}` failed: \
             install it by hand, then build again"
        ),
    }
}
