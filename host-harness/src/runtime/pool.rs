//! Outbound connection reuse: idle HTTP/1.1 connections kept per site.
//!
//! A site is the scheme, host, port and the TLS trust in force (the public
//! roots, or those plus one CA file's exact contents), so a connection is
//! only ever reused under the trust it was verified with. The pool belongs
//! to the [`Runtime`](super::Runtime) and is shared by all its calls.
//!
//! A connection is checked out for one request at a time (HTTP/1.1 has no
//! multiplexing) and comes back once its response body has been read to
//! the end and the server did not ask to close; a body dropped half-read, a
//! `Connection: close`, an error or a timeout closes it instead. Idle
//! connections older than [`IDLE_TIMEOUT`] are not reused, and at most
//! [`MAX_IDLE_PER_SITE`] are kept per site.
//!
//! Each connection is driven by its own Tokio task, which ends when the
//! connection closes or the last handle to it is dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use wasmtime_wasi_http::WasiBody;

/// How long an idle connection is trusted to still be open: below the
/// keep-alive of common servers and proxies (60 s and more), so a reused
/// connection is rarely one the server is closing at that very moment.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The most idle connections kept per site: more than the organizations a
/// host syncs at once.
pub(crate) const MAX_IDLE_PER_SITE: usize = 64;

/// Where a connection goes, and under which TLS trust.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SiteKey {
    /// Whether the connection is TLS.
    pub(crate) https: bool,
    /// The host, lower-case, as in the URI (IPv6 in brackets).
    pub(crate) host: String,
    /// The port (the scheme's default when the URI has none).
    pub(crate) port: u16,
    /// Which TLS trust verified the server: 0 for the public roots, else a
    /// hash of the CA file's path and contents.
    pub(crate) trust: u64,
}

/// Connections opened and reused, since the runtime was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionStats {
    /// New TCP (and TLS) connections.
    pub opened: u64,
    /// Requests sent on an already open connection.
    pub reused: u64,
}

struct Idle {
    sender: SendRequest<WasiBody>,
    since: Instant,
}

/// The idle connections of every site.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<SiteKey, Vec<Idle>>>,
    opened: AtomicU64,
    reused: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// An open, idle connection to `key`, the most recently used first.
    pub(crate) fn checkout(&self, key: &SiteKey) -> Option<SendRequest<WasiBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(key)?;
        while let Some(conn) = list.pop() {
            if conn.since.elapsed() < IDLE_TIMEOUT
                && !conn.sender.is_closed()
                && conn.sender.is_ready()
            {
                self.reused.fetch_add(1, Ordering::Relaxed);
                return Some(conn.sender);
            }
            // Stale or closed: dropping the handle ends its task.
        }
        None
    }

    /// Counts a newly opened connection.
    pub(crate) fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Gives the connection back once the response in flight on it is done;
    /// a connection that closes instead is dropped.
    pub(crate) fn give_back(self: &Arc<Self>, key: SiteKey, mut sender: SendRequest<WasiBody>) {
        let pool = self.clone();
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                pool.put(key, sender);
            }
        });
    }

    fn put(&self, key: SiteKey, sender: SendRequest<WasiBody>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(key).or_default();
        list.retain(|c| c.since.elapsed() < IDLE_TIMEOUT && !c.sender.is_closed());
        if list.len() < MAX_IDLE_PER_SITE {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Connections opened and reused so far.
    pub(crate) fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            opened: self.opened.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
        }
    }
}
