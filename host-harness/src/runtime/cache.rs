//! Compiling the component once: the native code is cached on disk, keyed
//! by the engine's compatibility hash and a hash of the component bytes.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::RuntimeError;

/// A compiled component and where it came from.
pub(crate) struct Loaded {
    pub(crate) component: Component,
    pub(crate) from_cache: bool,
    pub(crate) cache_file: Option<PathBuf>,
}

/// The cache file name for `bytes` compiled by `engine`:
/// `seatsync-connector-<128-bit hex>.cwasm`.
///
/// The key covers the engine's compatibility hash (wasmtime version, target,
/// compiler settings, enabled features) and the component bytes, so a new
/// wasmtime, a changed `Config` or a new component gets a new file.
pub(crate) fn cache_file_name(engine: &Engine, bytes: &[u8]) -> String {
    let mut key = String::new();
    // Two independent 64-bit hashes make a 128-bit key: a collision would
    // load another component's code.
    for seed in [0x5ea7_5c0du64, 0xc0de_cafe] {
        let mut h = DefaultHasher::new();
        seed.hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        bytes.len().hash(&mut h);
        bytes.hash(&mut h);
        key.push_str(&format!("{:016x}", h.finish()));
    }
    format!("seatsync-connector-{key}.cwasm")
}

/// Loads the compiled component from `cache_dir`, or compiles it (and writes
/// the cache file, atomically). Without a cache dir, just compiles.
///
/// A cache that cannot be read or written is not an error: the component is
/// compiled in memory and a warning is logged.
pub(crate) fn load(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> Result<Loaded, RuntimeError> {
    let Some(dir) = cache_dir else {
        return Ok(Loaded {
            component: compile(engine, bytes)?,
            from_cache: false,
            cache_file: None,
        });
    };
    if let Err(problem) = private_dir(dir) {
        tracing::warn!(
            dir = %dir.display(),
            %problem,
            "not using the compile cache: its files are loaded as native code, so it must be a directory only this user can write"
        );
        return Ok(Loaded {
            component: compile(engine, bytes)?,
            from_cache: false,
            cache_file: None,
        });
    }
    let path = dir.join(cache_file_name(engine, bytes));
    if path.is_file() && owned_and_private(&path).is_ok() {
        // SAFETY: `deserialize_file` maps the file and runs its contents as
        // native code, so it must be an unmodified artifact that wasmtime
        // itself serialized for a compatible engine. It is: only `store`
        // below writes files under this name, from `Component::serialize`
        // of this very engine configuration, and the name is keyed by the
        // engine's compatibility hash (wasmtime additionally checks its
        // version and settings in the file's header and refuses a mismatch).
        // The file is written to a temporary name and renamed into place, so
        // a reader never sees a partial file. The directory and the file
        // were checked to belong to this user and to be writable by no one
        // else (`private_dir`, `owned_and_private`), so no other user can
        // have replaced it.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "loaded the compiled connector from the cache");
                return Ok(Loaded {
                    component,
                    from_cache: true,
                    cache_file: Some(path),
                });
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "the cached compiled connector is unusable; compiling again"
            ),
        }
    }
    let component = compile(engine, bytes)?;
    let cache_file = match store(&component, dir, &path) {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!(
                dir = %dir.display(),
                error = %e,
                "could not write the compiled connector to the cache; it will be compiled again next time"
            );
            None
        }
    };
    Ok(Loaded {
        component,
        from_cache: false,
        cache_file,
    })
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, RuntimeError> {
    Component::new(engine, bytes)
        .map_err(|e| RuntimeError::Load(format!("the component does not compile: {e:#}")))
}

/// Writes the serialized component to a temporary file next to `path`, then
/// renames it into place.
fn store(component: &Component, dir: &Path, path: &Path) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let serialized = component.serialize().map_err(std::io::Error::other)?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tmp = dir.join(format!(
        ".{}.{}-{}-{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("cwasm"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&serialized)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` (mode 0700) if needed and checks it is this user's and
/// writable by no one else.
fn private_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
    }
    owned_and_private(dir)
}

/// Whether `path` belongs to this process's user and no group or other user
/// may write to it.
fn owned_and_private(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!("it belongs to user {}, not {me}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "group or others may write to it (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}
