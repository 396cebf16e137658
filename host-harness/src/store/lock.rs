//! Named locks kept in the database, so that two processes using the same
//! database (two daemons, or a daemon and a manual `seatsync sync`) cannot
//! sync the same tenant at once, even on different hosts sharing the file.
//!
//! A lock is a row of `locks`, taken in a `BEGIN IMMEDIATE` transaction (so
//! two takers are serialized by SQLite, or by the store's write lock on
//! PostgreSQL) and deleted when the [`LockGuard`] is dropped. One guard may
//! hold several names at once ([`Store::lock_all`]: a sync holds its
//! tenant's lock and its PSA site's), all taken or none, under one token. A process that dies leaves its row behind; the row is then
//! *stale* once its holder has not refreshed `heartbeat_at` for the stale
//! timeout, and the next taker replaces it. A holder must therefore call
//! [`LockGuard::heartbeat`] well within the timeout (e.g. before each
//! organization, and every minute from a timer). Staleness compares the
//! taker's clock with the holder's heartbeat, so hosts sharing a database
//! need clocks that agree to well within the timeout.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use super::db::{Conn, OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::{Clock, Store, StoreError, Ts, db_error};

/// How long a lock may go without a heartbeat before it is stale.
pub const DEFAULT_LOCK_STALE_AFTER: Duration = Duration::from_secs(10 * 60);

/// The name of the lock a sync of `tenant` must hold.
pub fn sync_lock_name(tenant: &str) -> String {
    format!("sync:{tenant}")
}

/// The name of the lock held by whoever talks to a PSA site (the
/// endpoints a connection reaches, as the runtime's network policy
/// describes them), so that the site sees one seatsync at a time and the
/// runtime's pacing of it holds across processes and machines.
pub fn site_lock_name(endpoints: &str) -> String {
    format!("site:{endpoints}")
}

/// The site a lock named by [`site_lock_name`] is for; `None` for any
/// other lock.
pub fn site_of_lock(name: &str) -> Option<&str> {
    name.strip_prefix("site:")
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// The lock's name.
    pub name: String,
    /// The holder's process id.
    pub pid: u32,
    /// The holder's host name.
    pub hostname: String,
    /// When the holder took the lock.
    pub acquired_at: DateTime<Utc>,
    /// The holder's last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// When the lock becomes stale if the holder stops heart-beating.
    pub stale_at: DateTime<Utc>,
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the lock '{}' is held by process {} on {} since {} (last heartbeat {}): \
             wait for that sync to finish; if that process is gone, the lock is taken over \
             automatically after {} (at once by a seatsync on {} in the same container)",
            self.name,
            self.pid,
            self.hostname,
            self.acquired_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.heartbeat_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.stale_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.hostname,
        )
    }
}

/// A held lock (one name or several); dropping it releases the lock.
///
/// It has its own database connection, so it can outlive borrows of the
/// [`Store`] it came from and release itself on drop.
pub struct LockGuard {
    conn: Conn,
    path: PathBuf,
    clock: Clock,
    fence: Fence,
    info: LockInfo,
    stale_after: Duration,
    released: bool,
}

/// What proves a holding of a lock still stands: its token, and how many
/// names it holds. A store fenced with it ([`Store::fence`]) checks, in
/// every write transaction, that every one of those rows still carries the
/// token, so a holder that lost its lock (it stalled past the stale
/// timeout and another process took over) writes nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    token: String,
    names: Vec<String>,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl LockGuard {
    /// The lock's name (the first, when it holds several).
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Every name it holds, the first first.
    pub fn names(&self) -> &[String] {
        &self.fence.names
    }

    /// This holder's details (as another process would see them).
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The proof of this holding, to fence a store's writes with.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    pub(super) fn token(&self) -> &str {
        &self.fence.token
    }

    /// Refreshes the heartbeat. Fails with [`StoreError::LockLost`] if
    /// another process took the lock (or one of its names) over as stale:
    /// the caller must stop.
    pub fn heartbeat(&mut self) -> Result<(), StoreError> {
        let now = (self.clock)();
        let changed = self
            .conn
            .execute(
                "UPDATE locks SET heartbeat_at = ?2 WHERE token = ?1",
                params![self.fence.token, Ts(now)],
            )
            .map_err(|e| db_error(&self.path, "refreshing the lock", e))?;
        if changed != self.fence.names.len() {
            return Err(self.fence.lost(&self.conn));
        }
        self.info.heartbeat_at = now;
        self.info.stale_at = stale_at(now, self.stale_after);
        Ok(())
    }

    /// Releases the lock now, reporting a failure (dropping releases too,
    /// but can only log one).
    pub fn release(mut self) -> Result<(), StoreError> {
        self.released = true;
        self.delete()
    }

    fn delete(&self) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM locks WHERE token = ?1", [&self.fence.token])
            .map_err(|e| db_error(&self.path, "releasing the lock", e))?;
        Ok(())
    }
}

impl Fence {
    /// Whether every name is still held with this token, read on `conn`
    /// (inside a write transaction, so no taker can come between).
    pub(super) fn check(&self, conn: &Conn, path: &std::path::Path) -> Result<(), StoreError> {
        let held: i64 = conn
            .query_row(
                "SELECT count(*) FROM locks WHERE token = ?1",
                [&self.token],
                |r| r.get(0),
            )
            .map_err(|e| db_error(path, "checking the lock", e))?;
        if usize::try_from(held).ok() != Some(self.names.len()) {
            return Err(self.lost(conn));
        }
        Ok(())
    }

    /// The error for a holding of which some name was taken over: it names
    /// the first such name.
    fn lost(&self, conn: &Conn) -> StoreError {
        let still: Vec<String> = conn
            .prepare("SELECT name FROM locks WHERE token = ?1")
            .and_then(|mut stmt| {
                stmt.query_map([&self.token], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()
            })
            .unwrap_or_default();
        let name = self
            .names
            .iter()
            .find(|n| !still.contains(n))
            .unwrap_or(&self.names[0]);
        StoreError::LockLost { name: name.clone() }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released
            && let Err(e) = self.delete()
        {
            // The row stays until it goes stale; the next taker waits that
            // long at most.
            tracing::warn!("could not release the lock '{}': {e}", self.info.name);
        }
    }
}

fn stale_at(heartbeat: DateTime<Utc>, after: Duration) -> DateTime<Utc> {
    let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
    heartbeat
        .checked_add_signed(after)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// This host's name, for telling operators who holds a lock.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Where pids mean the same process as here: this boot (pids start over at
/// each boot) and this pid namespace (containers sharing a host name, or a
/// host, have their own pids). `None` where `/proc` cannot tell.
fn pid_scope() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), namespace.display()))
}

/// What `/proc` says of a process.
#[derive(Debug, PartialEq, Eq)]
enum ProcessState {
    /// Running (or sleeping, stopped...), started at this time (clock ticks
    /// after boot).
    Started(String),
    /// No such process, or it has ended (a zombie).
    Gone,
    /// `/proc` could not be read (hidden by `hidepid`, denied, out of file
    /// handles): nothing can be concluded.
    Unknown,
}

/// What `/proc/<path>/stat` says: `path` is a pid or `self`.
fn process_state(path: &str) -> ProcessState {
    let stat = match std::fs::read_to_string(format!("/proc/{path}/stat")) {
        Ok(stat) => stat,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ProcessState::Gone,
        Err(_) => return ProcessState::Unknown,
    };
    // `pid (comm) S ...`: the fields after the last ')' start with the
    // state (field 3); the start time is field 22.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return ProcessState::Unknown;
    };
    let mut fields = rest.split_whitespace();
    match fields.next() {
        Some("Z" | "X") => ProcessState::Gone,
        Some(_) => fields.nth(18).map_or(ProcessState::Unknown, |t| {
            ProcessState::Started(t.to_owned())
        }),
        None => ProcessState::Unknown,
    }
}

/// This process as a lock row records it (`locks.process`): its pid scope
/// and start time.
pub(super) fn this_process() -> Option<String> {
    match process_state("self") {
        ProcessState::Started(started) => Some(format!("{}/{started}", pid_scope()?)),
        _ => None,
    }
}

/// Whether the holder `pid`, recorded as `process` ([`this_process`] of the
/// holder), has certainly ended: it ran in this boot and pid namespace, and
/// that pid is now no process, a zombie, or a process that started at
/// another time (the pid was reused). `false` whenever it cannot tell (a
/// row from another host, container or boot, or from a seatsync that did
/// not record `process`, or `/proc` unreadable): the lock then waits for the
/// stale timeout.
pub(super) fn holder_is_gone(pid: u32, process: Option<&str>) -> bool {
    let (Some(recorded), Some(scope)) = (process, pid_scope()) else {
        return false;
    };
    let Some(started) = recorded
        .strip_prefix(scope.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return false;
    };
    match process_state(&pid.to_string()) {
        ProcessState::Gone => true,
        ProcessState::Started(now) => now != started,
        ProcessState::Unknown => false,
    }
}

/// A random token identifying one lock holding (not a secret: it only has
/// to differ between holders, including two guards of one process).
pub(super) fn new_token() -> String {
    let mut bytes = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !from_os {
        // Randomly keyed hashes of the time and pid are unique enough.
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            h.write_u32(std::process::id());
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `locks` row.
struct Holder {
    pid: u32,
    hostname: String,
    /// [`this_process`] of the holder, if its seatsync recorded it.
    process: Option<String>,
    acquired_at: DateTime<Utc>,
    heartbeat_at: DateTime<Utc>,
}

impl Store {
    fn read_holder(&self, conn: &Conn, name: &str) -> Result<Option<Holder>, StoreError> {
        conn.query_row(
            "SELECT pid, hostname, process, acquired_at, heartbeat_at FROM locks WHERE name = ?1",
            [name],
            |r| {
                Ok(Holder {
                    pid: r.get(0)?,
                    hostname: r.get(1)?,
                    process: r.get(2)?,
                    acquired_at: r.get::<_, Ts>(3)?.0,
                    heartbeat_at: r.get::<_, Ts>(4)?.0,
                })
            },
        )
        .optional()
        .map_err(|e| self.err("reading a lock", e))
    }

    fn info(&self, name: &str, h: Holder) -> LockInfo {
        LockInfo {
            name: name.to_owned(),
            pid: h.pid,
            hostname: h.hostname,
            acquired_at: h.acquired_at,
            stale_at: stale_at(h.heartbeat_at, self.lock_stale_after),
            heartbeat_at: h.heartbeat_at,
        }
    }

    /// Takes every one of `names` under one token, or none and says who
    /// holds the first that is taken.
    fn take_lock(&self, names: &[&str]) -> Result<Result<LockGuard, LockInfo>, StoreError> {
        if names.is_empty() || names.iter().any(|n| n.is_empty()) {
            return Err(StoreError::InvalidInput(
                "a lock needs a name (this is a seatsync bug)".into(),
            ));
        }
        // Open the guard's connection first: once the rows are committed,
        // nothing may fail before the guard exists to delete them.
        let conn = self.connect_again()?;
        let ctx = "taking a lock";
        let tx = self.write_tx(ctx)?;
        let now = self.now();
        for &name in names {
            let Some(holder) = self.read_holder(&tx, name)? else {
                continue;
            };
            // A holder whose process is gone (killed, crashed) cannot
            // heartbeat again: take its lock now rather than make the
            // operator wait out the stale timeout after a crash.
            let live = self.is_live(
                holder.pid,
                holder.process.as_deref(),
                holder.heartbeat_at,
                now,
            );
            let dead = !live && holder_is_gone(holder.pid, holder.process.as_deref());
            let info = self.info(name, holder);
            if live {
                return Ok(Err(info));
            }
            tracing::warn!(
                "taking over the {} lock '{}' of process {} on {} (no heartbeat since {})",
                if dead { "dead process's" } else { "stale" },
                name,
                info.pid,
                info.hostname,
                info.heartbeat_at
            );
            tx.execute("DELETE FROM locks WHERE name = ?1", [name])
                .map_err(|e| self.err(ctx, e))?;
        }
        let token = new_token();
        let info = LockInfo {
            name: names[0].to_owned(),
            pid: std::process::id(),
            hostname: hostname(),
            acquired_at: now,
            heartbeat_at: now,
            stale_at: stale_at(now, self.lock_stale_after),
        };
        let process = this_process();
        for &name in names {
            tx.execute(
                "INSERT INTO locks (name, pid, hostname, process, token, acquired_at, heartbeat_at, worker)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                params![
                    name,
                    info.pid,
                    info.hostname,
                    process,
                    token,
                    Ts(now),
                    self.worker.as_deref()
                ],
            )
            .map_err(|e| self.err(ctx, e))?;
        }
        tx.commit().map_err(|e| self.err(ctx, e))?;
        Ok(Ok(LockGuard {
            conn,
            path: self.path.clone(),
            clock: self.clock.clone(),
            fence: Fence {
                token,
                names: names.iter().map(|n| (*n).to_owned()).collect(),
            },
            info,
            stale_after: self.lock_stale_after,
            released: false,
        }))
    }

    /// Takes every one of `names` at once, or none (then fails with
    /// [`StoreError::LockBusy`] naming the holder of the first one taken).
    /// Taking them together, in one transaction, means two processes that
    /// each need two names can never hold one each and wait for the other.
    pub fn lock_all(&self, names: &[&str]) -> Result<LockGuard, StoreError> {
        self.take_lock(names)?.map_err(StoreError::LockBusy)
    }

    /// Takes the named lock if it is free or stale; `None` if another holder
    /// has it (see [`Store::lock_holder`] or [`Store::lock`] for who).
    /// Not reentrant: a second take in the same process is refused too.
    pub fn try_lock(&self, name: &str) -> Result<Option<LockGuard>, StoreError> {
        Ok(self.take_lock(&[name])?.ok())
    }

    /// Takes the named lock, or fails with [`StoreError::LockBusy`], whose
    /// message says who holds it and what to do.
    pub fn lock(&self, name: &str) -> Result<LockGuard, StoreError> {
        self.lock_all(&[name])
    }

    /// Whether the named lock is held by a live holder: one whose
    /// heartbeat is fresh and whose process is not known to be gone (a
    /// lock that is not would be taken over by the next taker).
    pub fn lock_is_held(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .read_holder(&self.conn, name)?
            .is_some_and(|h| self.is_live(h.pid, h.process.as_deref(), h.heartbeat_at, self.now())))
    }

    /// Whether a holder (of a lock, or a worker's row) is still there: it
    /// heart-beat within the stale timeout, and its process (`pid`,
    /// recorded as `process`) is not known to be gone. The one rule for
    /// taking a lock over, for live locks and for live workers.
    pub(super) fn is_live(
        &self,
        pid: u32,
        process: Option<&str>,
        heartbeat: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        stale_at(heartbeat, self.lock_stale_after) > now && !holder_is_gone(pid, process)
    }

    /// The names of every lock a live holder has ([`Store::lock_is_held`]
    /// for each), in one read.
    pub fn live_locks(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let ctx = "reading the locks";
        let rows: Vec<(String, u32, Option<String>, Ts)> = self
            .conn
            .prepare("SELECT name, pid, process, heartbeat_at FROM locks")
            .map_err(|e| self.err(ctx, e))?
            .query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(|e| self.err(ctx, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(ctx, e))?;
        let now = self.now();
        Ok(rows
            .into_iter()
            .filter(|(_, pid, process, heartbeat)| {
                self.is_live(*pid, process.as_deref(), heartbeat.0, now)
            })
            .map(|(name, ..)| name)
            .collect())
    }

    /// Who holds the named lock, if anyone (stale holders included; see
    /// [`LockInfo::stale_at`]).
    pub fn lock_holder(&self, name: &str) -> Result<Option<LockInfo>, StoreError> {
        Ok(self
            .read_holder(&self.conn, name)?
            .map(|h| self.info(name, h)))
    }

    /// Within a write transaction: checks that `lock` is still held by its
    /// guard (every name of it).
    pub(super) fn confirm_lock(&self, tx: &Conn, lock: &LockGuard) -> Result<(), StoreError> {
        lock.fence().check(tx, &self.path)
    }

    /// Fences this store with `fence` until the returned scope is dropped:
    /// every write transaction it begins meanwhile first checks that the
    /// holding still stands, and fails with [`StoreError::LockLost`] (and
    /// writes nothing) if another process took it over. A sync fences its
    /// store with its lock, so a process that stalled past the stale
    /// timeout cannot record anything once another has taken over.
    pub fn fence(&self, fence: &Fence) -> FenceScope<'_> {
        let previous = self.fence.replace(Some(fence.clone()));
        FenceScope {
            store: self,
            previous,
        }
    }

    /// The fence in force, checked by [`Store::write_tx`].
    pub(super) fn check_fence(&self, tx: &Conn) -> Result<(), StoreError> {
        match &*self.fence.borrow() {
            Some(fence) => fence.check(tx, &self.path),
            None => Ok(()),
        }
    }
}

/// While alive, the store's writes are fenced ([`Store::fence`]); dropped,
/// the fence before it is back.
pub struct FenceScope<'a> {
    store: &'a Store,
    previous: Option<Fence>,
}

impl Drop for FenceScope<'_> {
    fn drop(&mut self) {
        self.store.fence.replace(self.previous.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_process_is_gone_and_a_live_one_is_not() {
        let me = this_process();
        assert!(me.is_some(), "this test runs where /proc tells");
        assert!(!holder_is_gone(std::process::id(), me.as_deref()));

        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep starts");
        let pid = child.id();
        let ProcessState::Started(started) = process_state(&pid.to_string()) else {
            panic!("sleep is running");
        };
        let recorded = format!("{}/{started}", pid_scope().unwrap());
        assert!(!holder_is_gone(pid, Some(&recorded)), "running");
        child.kill().unwrap();
        // Killed but not yet reaped: a zombie is gone too.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(holder_is_gone(pid, Some(&recorded)), "a zombie");
        child.wait().unwrap();
        assert!(holder_is_gone(pid, Some(&recorded)), "reaped");
    }

    #[test]
    fn an_unreadable_process_is_not_taken_for_gone() {
        assert_eq!(process_state("4294967295"), ProcessState::Gone);
        // `/proc/self/stat/stat`: an error other than "not found" (not a
        // directory), as `hidepid` or a denial would give.
        assert_eq!(process_state("self/stat"), ProcessState::Unknown);
        assert!(!holder_is_gone(u32::MAX, None));
    }

    #[test]
    fn a_reused_pid_is_a_gone_holder() {
        // This process's pid, recorded with another start time: the holder
        // was an earlier process with the same pid.
        let recorded = format!("{}/1", pid_scope().unwrap());
        assert!(holder_is_gone(std::process::id(), Some(&recorded)));
    }

    #[test]
    fn a_holder_elsewhere_or_unrecorded_is_never_taken_for_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let scope = pid_scope().unwrap();
        // The pid is free here, but the holder ran elsewhere: another boot,
        // another pid namespace (a container with the same host name), or
        // a seatsync that did not record where.
        let namespace = std::fs::read_link("/proc/self/ns/pid").unwrap();
        let other_boot = format!(
            "00000000-0000-0000-0000-000000000000/{}/1",
            namespace.display()
        );
        let other_namespace = format!("{}/pid:[1]/1", scope.split('/').next().unwrap());
        assert!(!holder_is_gone(pid, Some(&other_boot)));
        assert!(!holder_is_gone(pid, Some(&other_namespace)));
        assert!(!holder_is_gone(pid, None));
        assert!(
            holder_is_gone(pid, Some(&format!("{scope}/1"))),
            "here, it is gone"
        );
    }

    #[test]
    fn tokens_differ_and_are_hex() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
