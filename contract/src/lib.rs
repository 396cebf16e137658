//! The `seatsync:psa` contract's data as plain Rust types, in its latest
//! version (`wit/psa.wit`, 0.2): what a host and a connector exchange,
//! knowing no particular PSA.
//!
//! One crate for both sides: the reference host (`seatsync-host`) speaks
//! these types to every connector version it runs (its binding module for
//! each contract version converts to them), and a connector written in Rust
//! can use them for its logic, converting only at its WIT boundary. A new
//! field is an edit of the WIT, of the type here, and of each side's
//! conversion.
//!
//! - [`model`]: descriptions, settings, the network plan, the lists, a
//!   sync's request and report;
//! - [`error`]: why a call failed ([`ConnectorError`]).

#![warn(missing_docs)]

pub mod error;
pub mod model;

pub use error::ConnectorError;
pub use model::*;
