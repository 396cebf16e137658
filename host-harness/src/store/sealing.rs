//! Secrets sealed at rest: a connection's secret settings, the SMTP
//! password and webhook URLs (which carry their own token) are stored
//! encrypted, so neither the database file, its write-ahead log, a dump nor
//! a backup shows them without the key.
//!
//! # The scheme
//!
//! XChaCha20-Poly1305 (an AEAD with 192-bit random nonces, so a nonce never
//! needs a counter kept anywhere) under a 256-bit key. A sealed value is
//! stored as text, `sealed:v1:<key id>:<base64(nonce ‖ ciphertext)>`; the
//! key id (eight hex digits of a hash of the key) lets a wrong key be named
//! as such instead of reported as damaged data. Each value is bound to
//! where it belongs (its table, tenant and setting, as associated data), so
//! a value copied into another row does not open.
//!
//! # Where the key comes from
//!
//! [`KeySource`]: `SEATSYNC_SECRET_KEY` (the key itself), a key file the
//! operator manages (`--secret-key-file`, `SEATSYNC_SECRET_KEY_FILE`), or,
//! by default, `<database>.key` beside the database, created with mode 0600
//! the first time a secret is sealed. A key file holds one key per line
//! (`seatsync-secret-key-v1:<base64>`); the first seals, every one opens.
//! Rotation uses that: the new key is put first, every value is sealed
//! again in one transaction, and only then is the old key dropped, so a
//! crash at any point leaves a file that opens everything.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use super::{StoreError, sidecar};

/// What every sealed value starts with.
pub(crate) const SEALED_PREFIX: &str = "sealed:v1:";
/// What every key line starts with.
const KEY_PREFIX: &str = "seatsync-secret-key-v1:";
const NONCE_LEN: usize = 24;

/// Where the key that seals the database's secrets comes from.
#[derive(Clone, Default)]
pub enum KeySource {
    /// `<database>.key`, beside the database: created (mode 0600) the first
    /// time a secret is sealed. The embedded default.
    #[default]
    BesideDatabase,
    /// A key file the operator manages (`--secret-key-file`): never
    /// created by seatsync except by `seatsync secrets new-key`.
    File(PathBuf),
    /// The key itself, as `SEATSYNC_SECRET_KEY` gives it.
    Env(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::BesideDatabase => f.write_str("BesideDatabase"),
            KeySource::File(path) => f.debug_tuple("File").field(path).finish(),
            KeySource::Env(_) => f.write_str("Env(<secret>)"),
        }
    }
}

impl KeySource {
    /// The key source the options give: a key file (`--secret-key-file`
    /// or `SEATSYNC_SECRET_KEY_FILE`), else the key itself
    /// (`SEATSYNC_SECRET_KEY`), else the key file beside the database.
    /// Both a file and a key is ambiguous, and refused.
    pub fn from_options(
        file: Option<PathBuf>,
        key: Option<String>,
    ) -> Result<KeySource, StoreError> {
        let file = file.filter(|f| !f.as_os_str().is_empty());
        let key = key.filter(|k| !k.trim().is_empty());
        match (file, key) {
            (Some(_), Some(_)) => Err(StoreError::SecretKey(
                "both SEATSYNC_SECRET_KEY and a key file (--secret-key-file or SEATSYNC_SECRET_KEY_FILE) are set: \
                 keep only one, so it is clear which key seals the secrets"
                    .to_string(),
            )),
            (Some(file), None) => Ok(KeySource::File(file)),
            (None, Some(key)) => Ok(KeySource::Env(key)),
            (None, None) => Ok(KeySource::BesideDatabase),
        }
    }

    /// [`KeySource::from_options`] with the environment's variables.
    pub fn from_env() -> Result<KeySource, StoreError> {
        KeySource::from_options(
            std::env::var_os("SEATSYNC_SECRET_KEY_FILE").map(PathBuf::from),
            std::env::var("SEATSYNC_SECRET_KEY").ok(),
        )
    }

    /// The key file this source reads, if it is a file (`db` is the
    /// database's path).
    pub fn file(&self, db: &Path) -> Option<PathBuf> {
        match self {
            KeySource::BesideDatabase => Some(sidecar(db, ".key")),
            KeySource::File(path) => Some(path.clone()),
            KeySource::Env(_) => None,
        }
    }

    /// How an error names this source.
    pub(crate) fn describe(&self, db: &Path) -> String {
        match self.file(db) {
            Some(file) => format!("the key file {}", file.display()),
            None => "SEATSYNC_SECRET_KEY".to_string(),
        }
    }
}

/// One key: its id and cipher.
#[derive(Clone)]
pub(crate) struct SealKey {
    id: String,
    cipher: XChaCha20Poly1305,
    /// The key line, to write it back into a key file.
    line: String,
}

impl SealKey {
    /// A new random key.
    pub(crate) fn generate() -> Result<SealKey, StoreError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| {
            StoreError::SecretKey(format!(
                "cannot generate a secret key: the operating system's random numbers failed ({e})"
            ))
        })?;
        Ok(SealKey::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; 32]) -> SealKey {
        let digest = Sha256::new()
            .chain_update(b"seatsync secret key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        SealKey {
            id,
            cipher: XChaCha20Poly1305::new(bytes.into()),
            line: format!("{KEY_PREFIX}{}", B64.encode(bytes)),
        }
    }

    /// Parses one key line (`seatsync-secret-key-v1:<base64 of 32 bytes>`).
    fn parse(line: &str) -> Option<SealKey> {
        let encoded = line.trim().strip_prefix(KEY_PREFIX)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .or_else(|_| B64.decode(encoded))
            .ok()?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(SealKey::from_bytes(&bytes))
    }

    /// The key's id (eight hex digits), as sealed values and messages name it.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The key as a line of a key file.
    pub(crate) fn line(&self) -> &str {
        &self.line
    }
}

/// The keys a store seals and opens with: the first seals, all open.
#[derive(Clone)]
pub(crate) struct Keyring {
    keys: Vec<SealKey>,
    /// Where they came from, for messages.
    origin: String,
}

impl Keyring {
    /// Loads the keys `source` names. A missing key file beside the
    /// database is created with a new key when `create` is set, and is
    /// `None` otherwise.
    pub(crate) fn load(
        source: &KeySource,
        db: &Path,
        create: bool,
    ) -> Result<Option<Keyring>, StoreError> {
        let origin = source.describe(db);
        let text = match source {
            KeySource::Env(key) => key.clone(),
            KeySource::File(path) => fs::read_to_string(path).map_err(|e| {
                StoreError::SecretKey(format!(
                    "cannot read {origin}: {e}; check --secret-key-file (create a key file with `seatsync secrets new-key FILE`)"
                ))
            })?,
            KeySource::BesideDatabase => {
                let path = sidecar(db, ".key");
                match fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if !create {
                            return Ok(None);
                        }
                        let key = SealKey::generate()?;
                        if write_key_file(&path, std::slice::from_ref(&key), Existing::Keep)? {
                            return Ok(Some(Keyring {
                                keys: vec![key],
                                origin,
                            }));
                        }
                        // Another process created it first: use its key.
                        return Keyring::load(source, db, false);
                    }
                    Err(e) => {
                        return Err(StoreError::SecretKey(format!(
                            "cannot read {origin}: {e}; check its permissions"
                        )));
                    }
                }
            }
        };
        let mut keys = Vec::new();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            keys.push(SealKey::parse(line).ok_or_else(|| {
                StoreError::SecretKey(format!(
                    "{origin} is not a seatsync secret key (each key is one line starting with `{KEY_PREFIX}`): \
                     create one with `seatsync secrets new-key FILE`"
                ))
            })?);
        }
        if keys.is_empty() {
            return Err(StoreError::SecretKey(format!(
                "{origin} holds no key: create one with `seatsync secrets new-key FILE`"
            )));
        }
        Ok(Some(Keyring { keys, origin }))
    }

    /// A keyring of `keys` (the first seals) from `origin`.
    pub(crate) fn of(keys: Vec<SealKey>, origin: String) -> Keyring {
        Keyring { keys, origin }
    }

    /// The key that seals.
    pub(crate) fn sealing_key(&self) -> &SealKey {
        &self.keys[0]
    }

    /// The keys, the sealing one first.
    pub(crate) fn keys(&self) -> &[SealKey] {
        &self.keys
    }

    /// Seals `plain`, bound to `context` (where it is stored).
    pub(crate) fn seal(&self, context: &str, plain: &str) -> Result<String, StoreError> {
        let key = self.sealing_key();
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| {
            StoreError::SecretKey(format!(
                "cannot seal a secret: the operating system's random numbers failed ({e})"
            ))
        })?;
        let sealed = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| StoreError::SecretKey("cannot seal a secret".to_string()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}:{}", key.id, B64.encode(blob)))
    }

    /// Opens a value `seal` made for `context`.
    pub(crate) fn open(&self, context: &str, stored: &str) -> Result<String, StoreError> {
        let damaged = || {
            StoreError::SecretKey(format!(
                "a sealed secret ({context}) is damaged: enter it again (for a connection, run `seatsync connect`)"
            ))
        };
        let (id, blob) = sealed_parts(stored).ok_or_else(damaged)?;
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| {
            StoreError::SecretKey(format!(
                "the database's secrets are sealed with key {id}, but {} holds key {}: \
                 give seatsync the key the database was sealed with (SEATSYNC_SECRET_KEY or --secret-key-file)",
                self.origin,
                self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let blob = B64.decode(blob).map_err(|_| damaged())?;
        if blob.len() < NONCE_LEN {
            return Err(damaged());
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let plain = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| damaged())?;
        String::from_utf8(plain).map_err(|_| damaged())
    }
}

/// Whether `stored` is a sealed value (rather than one an older seatsync
/// stored in clear).
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// The key id and the encoded blob of a sealed value.
pub(crate) fn sealed_parts(stored: &str) -> Option<(&str, &str)> {
    stored.strip_prefix(SEALED_PREFIX)?.split_once(':')
}

/// How [`write_key_file`] treats a file already at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Leave it: nothing is written (another process created it first).
    Keep,
    /// Replace it (rotation).
    Replace,
}

/// Writes `keys` to the key file `path` (mode 0600) in one step: a
/// temporary file beside it, synced, then linked or renamed into place, so
/// a crash leaves the old file or the new one, never half of one. Returns
/// whether the file was written: with [`Existing::Keep`] two processes
/// creating the file at once cannot both win (a hard link fails if the
/// name exists), so they never seal with different keys.
pub(crate) fn write_key_file(
    path: &Path,
    keys: &[SealKey],
    existing: Existing,
) -> Result<bool, StoreError> {
    let fail = |e: std::io::Error| {
        StoreError::SecretKey(format!(
            "cannot write the key file {}: {e}; check that its directory is writable",
            path.display()
        ))
    };
    let tmp = sidecar(path, &format!(".tmp.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    let mut text = String::from(
        "# seatsync secret key: it opens the secrets in the database. Keep it apart from\n\
         # the database's backups, and never share it. The first key seals; all open.\n",
    );
    for key in keys {
        text.push_str(key.line());
        text.push('\n');
    }
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)))
        .and_then(|()| match existing {
            Existing::Replace => fs::rename(&tmp, path).map(|()| true),
            Existing::Keep => match fs::hard_link(&tmp, path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            },
        });
    let _ = fs::remove_file(&tmp);
    let written = written.map_err(fail)?;
    // The new name is durable once the directory is synced.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::of(
            vec![SealKey::generate().expect("a key")],
            "test".to_string(),
        )
    }

    #[test]
    fn a_sealed_value_opens_only_where_it_was_sealed_and_with_its_key() {
        let ring = ring();
        let sealed = ring.seal("connection/t/private-key", "s3cret").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            ring.open("connection/t/private-key", &sealed).unwrap(),
            "s3cret"
        );
        // Another row's context: refused as damaged, not opened.
        let moved = ring.open("connection/other/private-key", &sealed);
        assert!(moved.unwrap_err().to_string().contains("damaged"));
        // Another key: named as the wrong key.
        let other = super::Keyring::of(vec![SealKey::generate().unwrap()], "the key file k".into());
        let wrong = other
            .open("connection/t/private-key", &sealed)
            .unwrap_err()
            .to_string();
        assert!(wrong.contains(ring.sealing_key().id()), "{wrong}");
        assert!(wrong.contains("the key file k"), "{wrong}");
    }

    #[test]
    fn sealing_twice_gives_different_text() {
        let ring = ring();
        assert_ne!(ring.seal("c", "x").unwrap(), ring.seal("c", "x").unwrap());
    }

    #[test]
    fn key_lines_round_trip_and_bad_ones_are_refused() {
        let key = SealKey::generate().unwrap();
        let again = SealKey::parse(key.line()).expect("its own line parses");
        assert_eq!(again.id(), key.id());
        assert!(SealKey::parse("seatsync-secret-key-v1:c2hvcnQ").is_none());
        assert!(SealKey::parse("not a key").is_none());
    }

    #[test]
    fn the_default_key_file_is_created_private_on_first_use_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        assert!(
            Keyring::load(&KeySource::BesideDatabase, &db, false)
                .unwrap()
                .is_none()
        );
        let ring = Keyring::load(&KeySource::BesideDatabase, &db, true)
            .unwrap()
            .unwrap();
        let file = dir.path().join("s.db.key");
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Keyring::load(&KeySource::BesideDatabase, &db, false)
            .unwrap()
            .unwrap();
        assert_eq!(again.sealing_key().id(), ring.sealing_key().id());
    }

    #[test]
    fn a_key_source_never_shows_the_key() {
        let shown = format!("{:?}", KeySource::Env("seatsync-secret-key-v1:abc".into()));
        assert!(!shown.contains("abc"), "{shown}");
    }
}
