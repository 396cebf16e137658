//! The seatsync reference host.

/// The connector component built from this checkout by `build.rs`
/// (`plugin/`, `wasm32-wasip2`, profile `component`).
pub const DEFAULT_COMPONENT: &[u8] = include_bytes!(env!("SEATSYNC_COMPONENT_PATH"));
