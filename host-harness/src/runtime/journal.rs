//! The write journal's seam: the host records every request that can change
//! the PSA before forwarding it, whatever the connector.
//!
//! A component's writes all pass through the host's `wasi:http` hooks, so
//! the host can make them crash-safe for every connector: before a POST,
//! PATCH, PUT or DELETE goes out, the hooks hand a [`JournalWrite`] to the
//! call's [`WriteJournal`], which records it durably and returns the
//! entry's id. The request is sent only once that succeeded. Its answer (or
//! the lack of one) comes back in the call's [`Exchange`](super::Exchange)
//! with the entry's id, for the caller to record with the call's result: a
//! process killed in between leaves an entry with no answer, which a later
//! run must let settle before it writes to the same place again.
//!
//! The runtime knows nothing of where entries are kept; seatsync's store
//! implements it (`sync.rs`).

use sha2::{Digest, Sha256};

/// A write about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalWrite {
    /// `POST`, `PATCH`, `PUT` or `DELETE`.
    pub method: String,
    /// The URL, with the connection's secrets redacted.
    pub url: String,
    /// SHA-256 of the body, lower-case hex: tells two writes to one URL
    /// apart without keeping the body.
    pub body_sha256: String,
}

impl JournalWrite {
    /// The write of `method` to `url` with `body`.
    pub fn new(method: &str, url: &str, body: &[u8]) -> JournalWrite {
        let digest = Sha256::digest(body);
        JournalWrite {
            method: method.to_string(),
            url: url.to_string(),
            body_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

/// Where a call's writes are recorded before they are sent.
pub trait WriteJournal: Send + Sync {
    /// Records `write` durably, before it is sent, and returns the entry's
    /// id. An error stops the write: it is not sent, and the connector sees
    /// it refused.
    ///
    /// Called from a blocking thread: it may do blocking I/O.
    fn record(&self, write: &JournalWrite) -> Result<i64, String>;
}

/// Whether a method can change the PSA.
pub fn is_write(method: &str) -> bool {
    matches!(method, "POST" | "PATCH" | "PUT" | "DELETE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_known_by_its_method_url_and_body_hash() {
        let write = JournalWrite::new("POST", "https://x/additions", b"{}");
        assert_eq!(
            write.body_sha256,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_ne!(
            JournalWrite::new("POST", "https://x/additions", b"{\"a\":1}").body_sha256,
            write.body_sha256
        );
        assert!(is_write("PATCH") && is_write("DELETE") && !is_write("GET"));
    }
}
