//! The web console's accounts, sessions and one-time setup token, as
//! stored (schema V10).
//!
//! The store never sees a password or a token: it keeps the argon2 hash of
//! each password and the SHA-256 hash of each session and setup token
//! (`crate::console::auth` makes them), so a copy of the database logs no
//! one in.

use super::db::{DbError, OptionalExtension, Row, params};
use chrono::{DateTime, Utc};

use super::{Store, StoreError, Ts, check_tenant};

/// What an account may see and do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The partner: every tenant, the partner settings, the accounts.
    Owner,
    /// A customer: its own tenant only, read-only unless the owner lets it
    /// manage its integration.
    Customer {
        /// The customer's tenant.
        tenant: String,
    },
}

/// A console account.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id.
    pub id: i64,
    /// The name it logs in with.
    pub username: String,
    /// The argon2id hash of its password (a PHC string).
    pub password_hash: String,
    /// Owner or customer.
    pub role: Role,
}

impl std::fmt::Debug for Account {
    // The hash is left out: it is not a password, but it is nobody's business.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A logged-in session, as found by its token's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whose session it is.
    pub account: Account,
    /// The CSRF token every form of this session must carry.
    pub csrf: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

fn account_from_row(r: &Row) -> Result<Account, DbError> {
    let role: String = r.get(3)?;
    let tenant: Option<String> = r.get(4)?;
    Ok(Account {
        id: r.get(0)?,
        username: r.get(1)?,
        password_hash: r.get(2)?,
        role: match (role.as_str(), tenant) {
            ("customer", Some(tenant)) => Role::Customer { tenant },
            _ => Role::Owner,
        },
    })
}

const ACCOUNT_COLUMNS: &str = "a.id, a.username, a.password_hash, a.role, a.tenant";

impl Store {
    /// Whether the console has its owner account yet.
    pub fn console_has_owner(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM console_accounts WHERE role = 'owner')",
                (),
                |r| r.get(0),
            )
            .map_err(|e| self.err("looking for the console's owner", e))
    }

    /// Replaces the setup token (only one is valid at a time: the one the
    /// last start printed).
    pub fn set_console_setup_token(&self, token_hash: &str) -> Result<(), StoreError> {
        let ctx = "saving the console's setup token";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        tx.execute("DELETE FROM console_setup", ()).map_err(e)?;
        tx.execute(
            "INSERT INTO console_setup (token_hash, created_at) VALUES (?1, ?2)",
            params![token_hash, Ts(self.now())],
        )
        .map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Whether `token_hash` is the current setup token's, while no owner
    /// exists yet.
    pub fn console_setup_token_valid(&self, token_hash: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM console_setup WHERE token_hash = ?1)
                    AND NOT EXISTS (SELECT 1 FROM console_accounts WHERE role = 'owner')",
                [token_hash],
                |r| r.get(0),
            )
            .map_err(|e| self.err("checking the console's setup token", e))
    }

    /// Creates the owner account with the setup token, which is used up: in
    /// one transaction, so two browsers racing with the same link create
    /// one owner. `Ok(None)` if the token is not (or no longer) valid.
    pub fn create_console_owner(
        &self,
        token_hash: &str,
        username: &str,
        password_hash: &str,
    ) -> Result<Option<i64>, StoreError> {
        check_username(username)?;
        let ctx = "creating the console's owner";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        let valid: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM console_setup WHERE token_hash = ?1)
                    AND NOT EXISTS (SELECT 1 FROM console_accounts WHERE role = 'owner')",
                [token_hash],
                |r| r.get(0),
            )
            .map_err(e)?;
        if !valid {
            return Ok(None);
        }
        let id: i64 = tx
            .query_row(
                "INSERT INTO console_accounts (username, password_hash, role, tenant, created_at)
             VALUES (?1, ?2, 'owner', NULL, ?3) RETURNING id",
                params![username.trim(), password_hash, Ts(self.now())],
                |r| r.get(0),
            )
            .map_err(e)?;
        tx.execute("DELETE FROM console_setup", ()).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(Some(id))
    }

    /// Creates a customer account for `tenant`. Refused if the name is taken.
    pub fn create_console_customer(
        &self,
        username: &str,
        password_hash: &str,
        tenant: &str,
    ) -> Result<i64, StoreError> {
        check_username(username)?;
        check_tenant(tenant)?;
        let ctx = "creating a customer account";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        let taken: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM console_accounts WHERE lower(username) = lower(?1))",
                [username.trim()],
                |r| r.get(0),
            )
            .map_err(e)?;
        if taken {
            return Err(StoreError::InvalidInput(format!(
                "the user name '{}' is taken: choose another",
                username.trim()
            )));
        }
        self.touch_tenant(&tx, tenant)?;
        let id: i64 = tx
            .query_row(
                "INSERT INTO console_accounts (username, password_hash, role, tenant, created_at)
             VALUES (?1, ?2, 'customer', ?3, ?4) RETURNING id",
                params![username.trim(), password_hash, tenant, Ts(self.now())],
                |r| r.get(0),
            )
            .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(id)
    }

    /// The account that logs in as `username` (case-insensitive).
    pub fn console_account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM console_accounts a WHERE lower(a.username) = lower(?1)"
                ),
                [username.trim()],
                account_from_row,
            )
            .optional()
            .map_err(|e| self.err("reading a console account", e))
    }

    /// Every console account, owner first, then by name.
    pub fn console_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let ctx = "listing console accounts";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {ACCOUNT_COLUMNS} FROM console_accounts a
                 ORDER BY a.role = 'customer', a.username"
            ))
            .map_err(|e| self.err(ctx, e))?;
        let rows = stmt
            .query_map((), account_from_row)
            .map_err(|e| self.err(ctx, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(ctx, e))
    }

    /// Records a new session; sessions past their end are purged on the way.
    pub fn create_console_session(
        &self,
        token_hash: &str,
        account_id: i64,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ctx = "saving a console session";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        tx.execute(
            "DELETE FROM console_sessions WHERE expires_at <= ?1",
            [Ts(self.now())],
        )
        .map_err(e)?;
        tx.execute(
            "INSERT INTO console_sessions (token_hash, account_id, csrf, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![token_hash, account_id, csrf, Ts(self.now()), Ts(expires_at)],
        )
        .map_err(e)?;
        tx.commit().map_err(e)
    }

    /// The live session with this token hash, if any.
    pub fn console_session(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {ACCOUNT_COLUMNS}, s.csrf, s.expires_at
                     FROM console_sessions s JOIN console_accounts a ON a.id = s.account_id
                     WHERE s.token_hash = ?1 AND s.expires_at > ?2"
                ),
                params![token_hash, Ts(self.now())],
                |r| {
                    let expires_at: Ts = r.get(6)?;
                    Ok(Session {
                        account: account_from_row(r)?,
                        csrf: r.get(5)?,
                        expires_at: expires_at.0,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err("reading a console session", e))
    }

    /// Ends a session (logout).
    pub fn delete_console_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM console_sessions WHERE token_hash = ?1",
                [token_hash],
            )
            .map(drop)
            .map_err(|e| self.err("ending a console session", e))
    }

    /// The partner setting: whether the tenant's customers may manage its
    /// integration themselves.
    pub fn set_customer_manages(&self, tenant: &str, manages: bool) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let ctx = "saving the partner setting";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;
        tx.execute(
            "UPDATE tenants SET customer_manages = ?2 WHERE name = ?1",
            params![tenant, manages],
        )
        .map_err(e)?;
        tx.commit().map_err(e)
    }

    /// Whether the tenant's customers may manage its integration.
    pub fn customer_manages(&self, tenant: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT customer_manages FROM tenants WHERE name = ?1",
                [tenant],
                |r| r.get(0),
            )
            .optional()
            .map(|v| v.unwrap_or(false))
            .map_err(|e| self.err("reading the partner setting", e))
    }
}

/// One tenant's real (not dry) runs of one status, summed: what
/// `/metrics` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStats {
    /// The tenant.
    pub tenant: String,
    /// `succeeded`, `attention`, `failed`, `interrupted` or `running`.
    pub status: String,
    /// How many runs.
    pub runs: u64,
    /// Requests they sent to the PSA.
    pub requests: u64,
    /// Their lines by outcome (`created`, `updated`, …), in a fixed order.
    pub lines: [(&'static str, u64); 7],
    /// When the latest of them started.
    pub last_started: DateTime<Utc>,
}

impl Store {
    /// Adds a tenant with nothing stored yet (the console's "add a
    /// customer"). Adding one that exists changes nothing.
    pub fn add_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let ctx = "adding a tenant";
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;
        tx.commit().map_err(|e| self.err(ctx, e))
    }

    /// Every tenant's real runs summed by status, from the runs' own
    /// counters (not their lines, so a scrape stays cheap at any history).
    pub fn run_stats(&self) -> Result<Vec<RunStats>, StoreError> {
        let ctx = "summing runs";
        let mut stmt = self
            .conn
            .prepare(
                // PostgreSQL sums BIGINTs as NUMERIC: cast back.
                "SELECT tenant, status, COUNT(*), CAST(SUM(requests) AS BIGINT),
                        CAST(SUM(created) AS BIGINT), CAST(SUM(updated) AS BIGINT),
                        CAST(SUM(unchanged) AS BIGINT), CAST(SUM(conflicts) AS BIGINT),
                        CAST(SUM(skipped) AS BIGINT), CAST(SUM(failed) AS BIGINT),
                        CAST(SUM(held) AS BIGINT), MAX(started_at)
                 FROM runs WHERE dry_run = 0 GROUP BY tenant, status ORDER BY tenant, status",
            )
            .map_err(|e| self.err(ctx, e))?;
        let rows = stmt
            .query_map((), |r| {
                let n = |i| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                let last: Ts = r.get(11)?;
                Ok(RunStats {
                    tenant: r.get(0)?,
                    status: r.get(1)?,
                    runs: n(2)?,
                    requests: n(3)?,
                    lines: [
                        ("created", n(4)?),
                        ("updated", n(5)?),
                        ("unchanged", n(6)?),
                        ("conflict", n(7)?),
                        ("skipped", n(8)?),
                        ("failed", n(9)?),
                        ("held", n(10)?),
                    ],
                    last_started: last.0,
                })
            })
            .map_err(|e| self.err(ctx, e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(ctx, e))
    }
}

/// A user name: 1 to 64 characters, no control characters, no spaces at
/// the ends.
fn check_username(username: &str) -> Result<(), StoreError> {
    let name = username.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput(
            "the user name must be 1 to 64 characters without control characters: choose another"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db")).unwrap();
        (dir, store)
    }

    #[test]
    fn the_setup_token_creates_one_owner_once() {
        let (_dir, store) = store();
        assert!(!store.console_has_owner().unwrap());
        store.set_console_setup_token("h1").unwrap();
        store.set_console_setup_token("h2").unwrap();
        // Only the last printed token is valid.
        assert!(!store.console_setup_token_valid("h1").unwrap());
        assert_eq!(store.create_console_owner("h1", "a", "x").unwrap(), None);
        let id = store.create_console_owner("h2", "Ann", "hash").unwrap();
        assert!(id.is_some());
        assert!(store.console_has_owner().unwrap());
        // Used up.
        assert_eq!(store.create_console_owner("h2", "b", "x").unwrap(), None);
        let ann = store.console_account("ann").unwrap().unwrap();
        assert_eq!((ann.username.as_str(), ann.role), ("Ann", Role::Owner));
    }

    #[test]
    fn sessions_end_at_their_expiry_and_at_logout() {
        let (_dir, mut store) = store();
        let now = Utc::now();
        store.set_clock(std::sync::Arc::new(move || now));
        store.set_console_setup_token("t").unwrap();
        let id = store
            .create_console_owner("t", "ann", "h")
            .unwrap()
            .unwrap();
        let later = now + chrono::Duration::hours(1);
        store.create_console_session("s1", id, "c1", later).unwrap();
        store.create_console_session("s2", id, "c2", later).unwrap();
        let s = store.console_session("s1").unwrap().unwrap();
        assert_eq!((s.account.id, s.csrf.as_str()), (id, "c1"));
        store.delete_console_session("s1").unwrap();
        assert!(store.console_session("s1").unwrap().is_none());
        store.set_clock(std::sync::Arc::new(move || later));
        assert!(store.console_session("s2").unwrap().is_none());
    }

    #[test]
    fn customer_accounts_belong_to_one_tenant_and_names_are_unique() {
        let (_dir, store) = store();
        store.create_console_customer("bob", "h", "acme").unwrap();
        let err = store
            .create_console_customer("BOB", "h", "other")
            .unwrap_err();
        assert!(err.to_string().contains("taken"), "{err}");
        let bob = store.console_account("bob").unwrap().unwrap();
        assert_eq!(
            bob.role,
            Role::Customer {
                tenant: "acme".into()
            }
        );
        assert!(!store.customer_manages("acme").unwrap());
        store.set_customer_manages("acme", true).unwrap();
        assert!(store.customer_manages("acme").unwrap());
        assert!(!store.customer_manages("nobody").unwrap());
    }
}
