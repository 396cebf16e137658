//! The seatsync reference host.
//!
//! - [`clock`]: the time, real or started at another instant for tests;
//! - [`connection`]: a tenant's settings and the sandbox's network policy;
//! - [`mapping`]: packages to products, organizations to contracts, checked;
//! - [`runtime`]: the connector component in a wasmtime sandbox;
//! - [`store`]: connections, mappings, usage and history in SQLite;
//! - [`usage`]: reading vendor usage files (pure);
//! - [`schedule`]: the daily timer's arithmetic (pure);
//! - [`sync`]: one sync run of a tenant, organizations in parallel;
//! - [`plans`]: review before billing: approval rules, plans a person
//!   approves, and applying them only where the PSA did not change;
//! - [`notify`]: webhooks and email when a person is needed;
//! - [`resolve`]: duplicates seatsync itself created, and ending the newer
//!   line of one after a person confirmed it;
//! - [`daemon`]: the daily loop around it;
//! - [`worker`]: many workers sharing every tenant's daily sync through one
//!   store;
//! - [`console`]: the web console (`seatsync serve`);
//! - [`cli`]: the `seatsync` command over all of the above.

pub mod cli;
pub mod clock;
pub mod connection;
pub mod console;
pub mod daemon;
pub mod mapping;
pub mod notify;
pub mod plans;
pub mod resolve;
pub mod runtime;
pub mod schedule;
pub mod store;
pub mod sync;
pub mod usage;
pub mod worker;

/// The connector component built from this checkout by `build.rs`
/// (`plugin/`, `wasm32-wasip2`, profile `component`).
pub const DEFAULT_COMPONENT: &[u8] = include_bytes!(env!("SEATSYNC_COMPONENT_PATH"));
