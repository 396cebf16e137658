//! Which stored values are secrets, and sealing, opening, migrating and
//! re-keying them ([`sealing`](super::sealing) has the cryptography).
//!
//! Three places hold secrets: a connection's secret settings
//! (`connection_secrets`), the SMTP password (`smtp_settings.password`) and
//! a webhook's URL (`notifiers.target`: Slack's and Teams' carry their
//! token in the path). Everything else is plain.

use std::path::PathBuf;

use super::db::{Conn, DbError, ToValue, Value};
use serde::Serialize;

use super::sealing::{self, Existing, KeySource, Keyring, SealKey, is_sealed, sealed_parts};
use super::{Store, StoreError};

/// Where a sealed value belongs, bound into its sealing so that a value
/// moved to another row does not open.
pub(super) fn connection_context(tenant: &str, key: &str) -> String {
    format!("connection/{tenant}/{key}")
}

/// See [`connection_context`].
pub(super) fn smtp_context(tenant: &str) -> String {
    format!("smtp/{tenant}/password")
}

/// See [`connection_context`].
pub(super) fn webhook_context(tenant: &str) -> String {
    format!("webhook/{tenant}")
}

/// What `seatsync secrets status` shows: where the key comes from and what
/// the database holds. No secret, no key material.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SecretStatus {
    /// Where the key comes from (a key file's path, or the variable).
    pub key_source: String,
    /// The ids of the keys it holds, the sealing one first; empty when the
    /// default key file has not been created yet.
    pub key_ids: Vec<String>,
    /// How many secrets are sealed, by the id of the key that sealed them.
    pub sealed: Vec<SealedCount>,
}

/// Secrets sealed under one key.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SealedCount {
    /// The key's id.
    pub key_id: String,
    /// How many secrets.
    pub secrets: usize,
}

/// What [`Store::rotate_secret_key`] did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rotation {
    /// The secrets sealed again.
    pub resealed: usize,
    /// The new key's id.
    pub new_key_id: String,
    /// The ids of the keys that no longer open anything.
    pub retired_key_ids: Vec<String>,
    /// The key file now holding only the new key, when seatsync rotated
    /// it in place; `None` when the new key came from `--new-key-file`
    /// and the operator must now point seatsync at it.
    pub rewritten_key_file: Option<PathBuf>,
}

/// One stored secret: where it lives and its stored text.
struct SecretRow {
    /// The table's update, with `?1` the new text and the rest the row.
    update: &'static str,
    keys: Vec<String>,
    context: String,
    stored: String,
}

impl Store {
    /// The keys, loaded (and, for the default key file, created when
    /// `create` is set) the first time they are needed.
    fn keyring(&self, create: bool) -> Result<&Keyring, StoreError> {
        if let Some(ring) = self.keyring.get() {
            return Ok(ring);
        }
        let ring = Keyring::load(&self.keys, &self.path, create)?.ok_or_else(|| {
            StoreError::SecretKey(format!(
                "the database holds sealed secrets but {} does not exist: restore it from where you keep it, \
                 or give the key with SEATSYNC_SECRET_KEY or --secret-key-file",
                self.keys.describe(&self.path)
            ))
        })?;
        Ok(self.keyring.get_or_init(|| ring))
    }

    /// Seals a secret for `context` (creating the default key on first use).
    pub(super) fn seal_secret(&self, context: &str, plain: &str) -> Result<String, StoreError> {
        self.keyring(true)?.seal(context, plain)
    }

    /// Opens a stored secret. A value still in clear (a database another
    /// process is migrating at this moment) is returned as it is.
    pub(super) fn open_secret(&self, context: &str, stored: &str) -> Result<String, StoreError> {
        if !is_sealed(stored) {
            return Ok(stored.to_string());
        }
        self.keyring(false)?.open(context, stored)
    }

    /// Every stored secret.
    fn secret_rows(&self, tx: &Conn) -> Result<Vec<SecretRow>, DbError> {
        let mut rows = Vec::new();
        let mut stmt = tx.prepare("SELECT tenant, key, value FROM connection_secrets")?;
        for row in stmt.query_map((), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })? {
            let (tenant, key, stored) = row?;
            rows.push(SecretRow {
                update: "UPDATE connection_secrets SET value = ?1 WHERE tenant = ?2 AND key = ?3",
                context: connection_context(&tenant, &key),
                keys: vec![tenant, key],
                stored,
            });
        }
        let mut stmt =
            tx.prepare("SELECT tenant, password FROM smtp_settings WHERE password IS NOT NULL")?;
        for row in stmt.query_map((), |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
            let (tenant, stored) = row?;
            rows.push(SecretRow {
                update: "UPDATE smtp_settings SET password = ?1 WHERE tenant = ?2",
                context: smtp_context(&tenant),
                keys: vec![tenant],
                stored,
            });
        }
        let mut stmt =
            tx.prepare("SELECT id, tenant, target FROM notifiers WHERE kind = 'webhook'")?;
        for row in stmt.query_map((), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })? {
            let (id, tenant, stored) = row?;
            rows.push(SecretRow {
                update: "UPDATE notifiers SET target = ?1 WHERE id = CAST(?2 AS INTEGER) AND tenant = ?3",
                context: webhook_context(&tenant),
                keys: vec![id.to_string(), tenant],
                stored,
            });
        }
        Ok(rows)
    }

    /// Seals again, in one transaction, every secret `only` selects:
    /// opened with `open` (a value in clear is taken as it is) and sealed
    /// with `seal`'s sealing key. Then checkpoints the write-ahead log, so
    /// the old text leaves the files (the connection deletes securely).
    fn reseal(
        &self,
        open: &Keyring,
        seal: &Keyring,
        only: impl Fn(&str) -> bool,
    ) -> Result<usize, StoreError> {
        let ctx = "sealing the stored secrets";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        let mut count = 0;
        for row in self.secret_rows(&tx).map_err(e)? {
            if !only(&row.stored) {
                continue;
            }
            let plain = if is_sealed(&row.stored) {
                open.open(&row.context, &row.stored)?
            } else {
                row.stored.clone()
            };
            let sealed = seal.seal(&row.context, &plain)?;
            let params: Vec<Value> = std::iter::once(&sealed)
                .chain(&row.keys)
                .map(ToValue::to_value)
                .collect();
            tx.execute(row.update, params).map_err(e)?;
            count += 1;
        }
        tx.commit().map_err(e)?;
        // A reader holding an old snapshot can keep the checkpoint from
        // finishing; the next one (SQLite checkpoints as the log grows)
        // completes it.
        if let Conn::Sqlite(conn) = &self.conn {
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        Ok(count)
    }

    /// Seals the secrets an older seatsync stored in clear (run on open).
    pub(super) fn seal_clear_secrets(&self) -> Result<(), StoreError> {
        let clear: i64 = self
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM connection_secrets WHERE substr(value, 1, 10) <> 'sealed:v1:')
                      + (SELECT count(*) FROM smtp_settings
                          WHERE password IS NOT NULL AND substr(password, 1, 10) <> 'sealed:v1:')
                      + (SELECT count(*) FROM notifiers
                          WHERE kind = 'webhook' AND substr(target, 1, 10) <> 'sealed:v1:')", (),
                |r| r.get(0),
            )
            .map_err(|e| self.err("looking for secrets stored in clear", e))?;
        if clear == 0 {
            return Ok(());
        }
        let ring = self.keyring(true)?;
        let sealed = self.reseal(ring, ring, |stored| !is_sealed(stored))?;
        tracing::info!(
            secrets = sealed,
            key = ring.sealing_key().id(),
            "sealed the secrets an older seatsync stored in clear"
        );
        Ok(())
    }

    /// Where the key comes from, its id, and how many secrets each key
    /// sealed.
    pub fn secret_status(&self) -> Result<SecretStatus, StoreError> {
        let ring = match self.keyring.get() {
            Some(ring) => Some(ring.clone()),
            None => Keyring::load(&self.keys, &self.path, false)?,
        };
        let ctx = "counting the sealed secrets";
        let tx = self.read_tx(ctx)?;
        let mut sealed: Vec<SealedCount> = Vec::new();
        for row in self.secret_rows(&tx).map_err(|e| self.err(ctx, e))? {
            let Some((id, _)) = sealed_parts(&row.stored) else {
                continue;
            };
            match sealed.iter_mut().find(|c| c.key_id == id) {
                Some(count) => count.secrets += 1,
                None => sealed.push(SealedCount {
                    key_id: id.to_string(),
                    secrets: 1,
                }),
            }
        }
        Ok(SecretStatus {
            key_source: self.keys.describe(&self.path),
            key_ids: ring
                .map(|r| r.keys().iter().map(|k| k.id().to_string()).collect())
                .unwrap_or_default(),
            sealed,
        })
    }

    /// Seals every secret again under a new key. Without `new_key_file`, a
    /// new key is generated and the key file rotated in place: the new key
    /// is written first beside the old, every secret is sealed again in one
    /// transaction, and then the old key is dropped, so a crash at any
    /// step leaves a key file that opens everything. With `new_key_file`
    /// (a file `seatsync secrets new-key` made), the secrets are sealed
    /// under its key and the old key is left alone: point seatsync at the
    /// new file afterwards.
    pub fn rotate_secret_key(
        &mut self,
        new_key_file: Option<PathBuf>,
    ) -> Result<Rotation, StoreError> {
        let current = self.keyring(true)?.clone();
        let retired: Vec<String> = current.keys().iter().map(|k| k.id().to_string()).collect();
        let rotation = match new_key_file {
            None => {
                let file = self.keys.file(&self.path).ok_or_else(|| {
                    StoreError::SecretKey(
                        "the key comes from SEATSYNC_SECRET_KEY, which seatsync cannot change: create a new key \
                         with `seatsync secrets new-key FILE`, run `seatsync secrets rotate --new-key-file FILE`, \
                         then give seatsync that file (--secret-key-file) instead of the variable"
                            .to_string(),
                    )
                })?;
                let new = SealKey::generate()?;
                let mut both = vec![new.clone()];
                both.extend(current.keys().iter().cloned());
                sealing::write_key_file(&file, &both, Existing::Replace)?;
                let ring = Keyring::of(both, self.keys.describe(&self.path));
                let resealed = self.reseal(&ring, &ring, |_| true)?;
                sealing::write_key_file(&file, std::slice::from_ref(&new), Existing::Replace)?;
                Rotation {
                    resealed,
                    new_key_id: new.id().to_string(),
                    retired_key_ids: retired,
                    rewritten_key_file: Some(file),
                }
            }
            Some(path) => {
                let source = KeySource::File(path);
                let new = Keyring::load(&source, &self.path, false)?.ok_or_else(|| {
                    StoreError::SecretKey(format!("{} does not exist", source.describe(&self.path)))
                })?;
                let mut both: Vec<SealKey> = new.keys().to_vec();
                both.extend(current.keys().iter().cloned());
                let opener = Keyring::of(both, self.keys.describe(&self.path));
                let resealed = self.reseal(&opener, &new, |_| true)?;
                let new_key_id = new.sealing_key().id().to_string();
                self.keys = source;
                Rotation {
                    resealed,
                    retired_key_ids: retired.into_iter().filter(|id| *id != new_key_id).collect(),
                    new_key_id,
                    rewritten_key_file: None,
                }
            }
        };
        self.keyring = std::cell::OnceCell::new();
        Ok(rotation)
    }
}

/// Writes a new key file at `path` (mode 0600) for `--secret-key-file` or
/// `rotate --new-key-file`; refuses to replace an existing file. Returns
/// the new key's id.
pub fn new_key_file(path: &std::path::Path) -> Result<String, StoreError> {
    let key = SealKey::generate()?;
    if !sealing::write_key_file(path, std::slice::from_ref(&key), Existing::Keep)? {
        return Err(StoreError::SecretKey(format!(
            "{} already exists: choose another path (a key file is never overwritten)",
            path.display()
        )));
    }
    Ok(key.id().to_string())
}
