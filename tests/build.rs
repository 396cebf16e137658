//! Builds the hostile test components (`tests/guests/*`) for `wasm32-wasip2`
//! with the `component` profile and exports each one's path as
//! `GUEST_<NAME>` (e.g. `GUEST_HOSTILE`), like wasmtime's `test-programs`
//! artifacts and `host-harness/build.rs`.
//!
//! They are built into their own target directory, `target/guest-hostile`,
//! not the host's `target/guest`: a guest links the connector crate without
//! its `component` feature, and cargo names the connector's `cdylib` output
//! the same whatever its features, so building a guest there would replace
//! the host's embedded `seatsync_plugin.wasm` with an export-less module.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "component";

/// (package, artifact file stem, env var suffix) of each guest.
const GUESTS: &[(&str, &str, &str)] = &[(
    "seatsync-hostile-guest",
    "seatsync_hostile_guest",
    "HOSTILE",
)];

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let workspace = manifest_dir
        .parent()
        .expect("tests lives inside the workspace")
        .to_path_buf();
    for watched in [
        "tests/guests",
        "plugin/src",
        "plugin/Cargo.toml",
        "wit",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=SEATSYNC_HOSTILE_TARGET_DIR");

    ensure_target_installed();

    let target_dir = std::env::var_os("SEATSYNC_HOSTILE_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target").join("guest-hostile"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", PROFILE, "--locked"])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _, _) in GUESTS {
        cmd.args(["--package", package]);
    }
    // Settings meant for the outer (host) build must not leak into the
    // guests': flags, wrappers (clippy's), and a target dir override.
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
        .unwrap_or_else(|e| panic!("could not run cargo to build the test guests: {e}"));
    if !status.success() {
        panic!("building the hostile test guests failed: see the cargo output above");
    }
    for (_, stem, name) in GUESTS {
        let artifact = target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{stem}.wasm"));
        if !artifact.is_file() {
            panic!(
                "the guest build succeeded but {} is missing",
                artifact.display()
            );
        }
        println!("cargo:rustc-env=GUEST_{name}={}", artifact.display());
    }
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
        "cargo:warning=installing the {TARGET} target with rustup (needed to build the test guests)"
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
