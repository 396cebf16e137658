//! Compiling workspace crates to `wasm32-wasip2` components from a build
//! script, the way wasmtime's `test-programs` artifacts do: a nested
//! `cargo build` with the size-optimized `component` profile, into a target
//! directory of its own (the outer cargo holds the lock on the main one for
//! as long as the build script runs).
//!
//! `host-harness/build.rs` builds the connector it embeds; `tests/build.rs`
//! builds the hostile test guests. Both call [`build`].

use std::path::{Path, PathBuf};
use std::process::Command;

/// The components' target.
pub const TARGET: &str = "wasm32-wasip2";

/// The cargo profile components are built with (see the root `Cargo.toml`).
pub const PROFILE: &str = "component";

/// Builds `packages` of the workspace that contains `manifest_dir` (the
/// calling crate's `CARGO_MANIFEST_DIR`) into `<workspace>/target/<subdir>`
/// (or `$override_env` when set), tells cargo to rerun the build script when
/// anything under `watched` (workspace-relative) changes, and returns the
/// path of each package's `.wasm`, in order. `what` names the components in
/// messages. Panics, with a message, when anything fails: a build script
/// has no other way to report.
pub fn build(
    manifest_dir: &Path,
    packages: &[&str],
    subdir: &str,
    override_env: &str,
    watched: &[&str],
    what: &str,
) -> Vec<PathBuf> {
    let workspace = manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or_else(|| panic!("no workspace (Cargo.lock) above {}", manifest_dir.display()));
    for path in watched {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    println!("cargo:rerun-if-env-changed={override_env}");

    ensure_target_installed(what);

    let target_dir = std::env::var_os(override_env)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target").join(subdir));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", PROFILE, "--locked"])
        .arg("--target-dir")
        .arg(&target_dir);
    for package in packages {
        cmd.args(["--package", package]);
    }
    // Settings meant for the outer (host) build must not leak into the
    // components': flags, wrappers (clippy's), and a target dir override.
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
        .unwrap_or_else(|e| panic!("could not run cargo to build {what}: {e}"));
    if !status.success() {
        panic!("building {what} failed: see the cargo output above");
    }
    packages
        .iter()
        .map(|package| {
            let artifact = target_dir
                .join(TARGET)
                .join(PROFILE)
                .join(format!("{}.wasm", package.replace('-', "_")));
            if !artifact.is_file() {
                panic!(
                    "building {what} succeeded but {} is missing",
                    artifact.display()
                );
            }
            artifact
        })
        .collect()
}

/// A fresh machine has the Rust toolchain but not the `wasm32-wasip2`
/// standard library; add it with rustup, which installed the toolchain.
fn ensure_target_installed(what: &str) {
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
    println!("cargo:warning=installing the {TARGET} target with rustup (needed to build {what})");
    match Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
    {
        Ok(s) if s.success() => {}
        _ => panic!(
            "the {TARGET} target is not installed and `rustup target add {TARGET}` failed: \
             install it by hand, then build again"
        ),
    }
}
