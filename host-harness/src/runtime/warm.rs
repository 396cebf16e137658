//! Instances kept warm between calls.
//!
//! Creating a store, instantiating the connector in it and tearing both down
//! again is a good part of what a sandboxed call costs over a native one
//! (`docs/performance.md`). The contract lets a host reuse an instance: the
//! connector keeps no state between calls (`wit/psa.wit`, interface
//! `connector`). So a call that returned normally leaves its store and
//! instance here, and the next call *for the same connection and site*
//! takes them; [`super::Runtime::run`] replaces every per-call part of the
//! store (HTTP policy and counters, log, CPU budget, deadline) first.
//!
//! What is never reused:
//!
//! - an instance across connections or sites: the component has seen that
//!   connection's keys, and a misbehaving one could keep them in its memory
//!   and send them elsewhere later;
//! - an instance whose call trapped, hit a limit, timed out or answered
//!   against the contract (it may have stopped half-way, with its memory in
//!   any state);
//! - an instance whose call returned with a request still pending: the
//!   request would otherwise go on outside any call's limits and counts,
//!   and a later call could finish its body;
//! - an instance after [`MAX_CALLS`] calls, or once its memory has grown past
//!   a quarter of the limit ([`MAX_MEMORY_SHARE`]): a connector that leaks
//!   gets a fresh start rather than failing later calls at the limit.
//!
//! With the pooling allocator every idle instance holds one of the pool's
//! slots, so [`IdleInstances::make_room`] drops the oldest idle ones before
//! a new instantiation could find the pool full.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use seatsync_contract::Settings;
use wasmtime::Store;

use super::contract::Plugin;
use super::policy::NetworkPolicy;
use super::sandbox::{CallState, CappedPipe, Redactor};

/// Calls one instance serves at most before it is dropped.
pub(crate) const MAX_CALLS: u32 = 1_000;

/// An instance whose memory grew past `limit / MAX_MEMORY_SHARE` is dropped
/// after its call.
pub(crate) const MAX_MEMORY_SHARE: usize = 4;

/// Which calls may share an instance: the same settings (secrets
/// included) under the same network policy.
pub(crate) struct WarmKey {
    settings: Settings,
    policy: NetworkPolicy,
}

impl WarmKey {
    pub(crate) fn new(policy: &NetworkPolicy, settings: &Settings) -> WarmKey {
        WarmKey {
            settings: settings.clone(),
            policy: policy.clone(),
        }
    }

    /// Whether calls with `policy` and `settings` may use an instance of
    /// this key (compared in place: no key is built for a lookup).
    pub(crate) fn matches(&self, policy: &NetworkPolicy, settings: &Settings) -> bool {
        self.settings == *settings && self.policy == *policy
    }
}

/// A store with the connector instantiated in it, between calls.
pub(crate) struct Warm {
    pub(crate) key: WarmKey,
    pub(crate) store: Store<CallState>,
    pub(crate) plugin: Plugin,
    /// The pipes behind the store's stdout and stderr.
    pub(crate) stdout: CappedPipe,
    pub(crate) stderr: CappedPipe,
    /// The connection's secrets, for redacting what the calls produce.
    pub(crate) redactor: Arc<Redactor>,
    /// Calls served so far.
    pub(crate) calls: u32,
}

impl Warm {
    /// Whether the instance may serve another call, given the memory limit.
    pub(crate) fn reusable(&self, memory_limit: usize) -> bool {
        self.calls < MAX_CALLS
            && self.store.data().limiter.grown_to <= memory_limit / MAX_MEMORY_SHARE
    }
}

/// The idle instances of a runtime, most recently used last.
pub(crate) struct IdleInstances {
    idle: Mutex<VecDeque<Warm>>,
    /// Instances that may exist at once, idle and in use together (the
    /// pool's slots), or that may be idle (no pool).
    capacity: usize,
}

impl IdleInstances {
    pub(crate) fn new(capacity: usize) -> IdleInstances {
        IdleInstances {
            idle: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Warm>> {
        // A panic while holding the lock leaves a list of whole entries;
        // nothing to repair.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used idle instance for `policy` and `settings`,
    /// if any.
    pub(crate) fn take(&self, policy: &NetworkPolicy, settings: &Settings) -> Option<Warm> {
        let mut idle = self.lock();
        let i = idle.iter().rposition(|w| w.key.matches(policy, settings))?;
        idle.remove(i)
    }

    /// Removes the oldest idle instances until `in_use` instances in use
    /// plus one new one fit the capacity, and returns them to be dropped
    /// (outside the lock: a store's teardown is not free).
    pub(crate) fn make_room(&self, in_use: usize) -> Vec<Warm> {
        let mut idle = self.lock();
        let mut evicted = Vec::new();
        while !idle.is_empty() && idle.len() + in_use + 1 > self.capacity {
            evicted.extend(idle.pop_front());
        }
        evicted
    }

    /// Keeps `warm` for a later call, dropping the oldest idle instance if
    /// the list is full.
    pub(crate) fn put(&self, warm: Warm) -> Option<Warm> {
        let mut idle = self.lock();
        let evicted = if idle.len() >= self.capacity {
            idle.pop_front()
        } else {
            None
        };
        idle.push_back(warm);
        evicted
    }

    /// Removes every idle instance, to be dropped by the caller.
    pub(crate) fn clear(&self) -> Vec<Warm> {
        self.lock().drain(..).collect()
    }
}
