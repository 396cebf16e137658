//! What the kits of one process share: one Tokio runtime (the servers and
//! the calls run on it), and each component compiled once.

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use seatsync_host::runtime::{Runtime, RuntimeOptions};

use crate::KitError;

static TOKIO: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The kits' Tokio runtime, started on first use. It lives as long as the
/// process (a test binary).
pub(crate) fn tokio() -> Result<&'static tokio::runtime::Runtime, KitError> {
    if let Some(rt) = TOKIO.get() {
        return Ok(rt);
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("seatsync-testkit")
        .enable_all()
        .build()
        .map_err(|e| KitError::io("cannot start the kit's Tokio runtime", e))?;
    if let Err(spare) = TOKIO.set(built) {
        // Another thread won the race; a runtime dropped this way may be
        // dropped from any context.
        spare.shutdown_background();
    }
    TOKIO.get().ok_or_else(|| {
        KitError::io(
            "cannot start the kit's Tokio runtime",
            std::io::Error::other("it was not kept"),
        )
    })
}

/// Runs `future` to completion on the kits' runtime, from synchronous code
/// or from inside another async runtime (a `#[tokio::test]`): there it
/// blocks the calling thread while a helper thread drives the future.
pub(crate) fn block_on<F>(rt: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return rt.block_on(future);
    }
    std::thread::scope(|scope| {
        match scope.spawn(|| rt.block_on(future)).join() {
            Ok(output) => output,
            // A panic in the future is the caller's panic.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// A compiled component, by a hash of its bytes and the options.
struct Compiled {
    key: (u64, u64, usize),
    options: RuntimeOptions,
    runtime: Arc<Runtime>,
}

static COMPILED: Mutex<Vec<Compiled>> = Mutex::new(Vec::new());

/// The runtime for `component` under `options`: compiled on first use, then
/// shared by every kit of the process.
pub(crate) fn runtime(
    component: &[u8],
    options: &RuntimeOptions,
) -> Result<Arc<Runtime>, KitError> {
    let key = key_of(component);
    let same = |c: &Compiled| {
        c.key == key
            && c.options.limits == options.limits
            && c.options.cache_dir == options.cache_dir
    };
    // Held while compiling: two tests starting at once compile once.
    let mut compiled = COMPILED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = compiled.iter().find(|c| same(c)) {
        return Ok(found.runtime.clone());
    }
    let runtime = Arc::new(Runtime::new(component, options.clone())?);
    compiled.push(Compiled {
        key,
        options: options.clone(),
        runtime: runtime.clone(),
    });
    Ok(runtime)
}

/// Two independent 64-bit hashes and the length of `bytes`.
fn key_of(bytes: &[u8]) -> (u64, u64, usize) {
    let hash = |seed: u64| {
        let mut h = DefaultHasher::new();
        seed.hash(&mut h);
        bytes.hash(&mut h);
        h.finish()
    };
    (hash(0x5ea7_5c0d), hash(0x7e57_c0de), bytes.len())
}
