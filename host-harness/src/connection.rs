//! A tenant's connection to its PSA: the settings its connector describes,
//! checked against that description, and the network policy the sandbox
//! gets from the connector's plan. The one place the CLI, the sync and any
//! other front end get them from, so the rules are the same everywhere.
//!
//! The host knows no PSA: which settings exist, which are secret, which
//! endpoints they lead to and which strings derived from them must be
//! redacted, all come from the connector (`describe`, `plan-network`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use seatsync_contract::{ConnectionInfo, ConnectorDescription, ConnectorError, Settings};

use crate::runtime::{CallFailed, NetworkPolicy, Runtime, RuntimeError, secret_values};
use crate::store::{Store, StoreError, StoredConnection};

/// Why a connection cannot be used as given.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// A required setting is missing.
    #[error(
        "the {} (setting '{key}') is missing or empty: give it (`--setting {key}=VALUE`, or its own flag){hint}",
        label.to_lowercase()
    )]
    Missing {
        /// The setting's key.
        key: String,
        /// Its label.
        label: String,
        /// ", which is a secret: …" for secrets.
        hint: String,
    },
    /// A setting the connector does not describe.
    #[error("this connector has no setting '{key}': its settings are {known}")]
    Unknown {
        /// The key given.
        key: String,
        /// The connector's setting keys.
        known: String,
    },
    /// A secret given where a command line would show it.
    #[error(
        "the setting '{key}' is a secret: give it on standard input or in an environment variable, never on the command line"
    )]
    SecretOnCommandLine {
        /// The setting's key.
        key: String,
    },
    /// The connector refused the settings (`plan-network`).
    #[error("the connection's settings cannot be used: {0}")]
    Refused(String),
    /// The sandbox cannot be set up for them.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A call to the connector did not complete (a trap, a limit).
    #[error(transparent)]
    Call(#[from] CallFailed),
    /// The connector answered with an error (its text redacted).
    #[error(transparent)]
    Failed(#[from] ConnectorFailed),
    /// The store could not save the connection.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tests `settings` and, only if the test passes, saves them as `tenant`'s
/// connection, with what the connector learnt (e.g. a looked-up codebase).
/// `seatsync connect` and the console's connection page both come here.
pub async fn connect(
    runtime: &Runtime,
    store: &Store,
    tenant: &str,
    description: &ConnectorDescription,
    mut settings: Settings,
    allow_http: bool,
    ca_file: Option<PathBuf>,
) -> Result<ConnectionInfo, ConnectionError> {
    let policy = policy_for(runtime, &settings, allow_http, ca_file.as_deref(), true).await?;
    let secrets = Secrets::of(&settings, description, &policy);
    let call = runtime.test_connection(&policy, &settings).await?;
    let info = call.value.map_err(|e| {
        ConnectorFailed(secrets.redact(&format!("the connection test failed: {e}")))
    })?;
    for (key, value) in info.learned_settings.iter() {
        settings.set(key, value);
    }
    store.save_connection(
        tenant,
        &StoredConnection::new(settings, secret_keys(description), allow_http, ca_file),
    )?;
    Ok(info)
}

/// What a connection test found, in a few words: `ConnectWise Manage
/// v2025.1; deployment: cloud, time zone: …`.
pub fn summary(psa: &str, info: &ConnectionInfo) -> String {
    let version = if info.psa_version.is_empty() {
        "version unknown"
    } else {
        &info.psa_version
    };
    let facts = info
        .facts
        .iter()
        .map(|(label, value)| format!("{label}: {value}"))
        .collect::<Vec<_>>()
        .join(", ");
    if facts.is_empty() {
        format!("{psa} {version}")
    } else {
        format!("{psa} {version}; {facts}")
    }
}

/// Checks `settings` against the connector's `description`: every key is a
/// described setting, every required one is there (defaults filled in).
pub fn checked_settings(
    description: &ConnectorDescription,
    mut settings: Settings,
) -> Result<Settings, ConnectionError> {
    let known = || {
        description
            .settings
            .iter()
            .map(|s| s.key.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for key in settings.keys() {
        if description.setting(key).is_none() {
            return Err(ConnectionError::Unknown {
                key: key.to_string(),
                known: known(),
            });
        }
    }
    for s in &description.settings {
        let present = settings.get(&s.key).is_some_and(|v| !v.trim().is_empty());
        if !present {
            settings.remove(&s.key);
            match (&s.default_value, s.required) {
                (Some(default), _) => settings.set(s.key.clone(), default.clone()),
                (None, true) => {
                    return Err(ConnectionError::Missing {
                        key: s.key.clone(),
                        label: s.label.clone(),
                        hint: if s.secret {
                            ", on standard input or in an environment variable".into()
                        } else {
                            String::new()
                        },
                    });
                }
                (None, false) => {}
            }
        }
    }
    Ok(settings)
}

/// The keys of the settings the description calls secret.
pub fn secret_keys(description: &ConnectorDescription) -> Vec<String> {
    description
        .settings
        .iter()
        .filter(|s| s.secret)
        .map(|s| s.key.clone())
        .collect()
}

/// The network policy for a stored connection: the connector's plan for its
/// settings, checked by the host ([`NetworkPolicy::from_plan`]), with the
/// connection's CA file. `interactive` for the commands a person waits for.
pub async fn network_policy(
    runtime: &Runtime,
    stored: &StoredConnection,
    interactive: bool,
) -> Result<NetworkPolicy, ConnectionError> {
    policy_for(
        runtime,
        &stored.settings,
        stored.allow_http,
        stored.ca_file.as_deref(),
        interactive,
    )
    .await
}

/// [`network_policy`] for settings not stored yet (`connect`).
pub async fn policy_for(
    runtime: &Runtime,
    settings: &Settings,
    allow_http: bool,
    ca_file: Option<&Path>,
    interactive: bool,
) -> Result<NetworkPolicy, ConnectionError> {
    let plan = runtime
        .plan_network(settings)
        .await?
        .value
        .map_err(|e| ConnectionError::Refused(refused(&e)))?;
    let mut policy = NetworkPolicy::from_plan(&plan, allow_http)?;
    if let Some(ca) = ca_file {
        policy = policy.with_ca_file(PathBuf::from(ca));
    }
    if interactive {
        policy = policy.interactive();
    }
    Ok(policy)
}

/// A connector's refusal, without the variant's prefix for plain settings
/// problems.
fn refused(e: &ConnectorError) -> String {
    match e {
        ConnectorError::InvalidConfig(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A stored connection ready for calls: its settings, its network policy
/// and the secrets to redact from anything shown.
pub struct Connected {
    /// Its settings, secrets included.
    pub settings: Settings,
    /// Where its calls may send requests.
    pub policy: NetworkPolicy,
    /// What to redact from anything shown.
    pub secrets: Secrets,
    /// The connector.
    pub runtime: Arc<Runtime>,
}

impl Connected {
    /// The stored connection under `runtime`'s connector; `interactive`
    /// for the commands a person waits for.
    pub async fn open(
        runtime: Arc<Runtime>,
        stored: StoredConnection,
        interactive: bool,
    ) -> Result<Connected, ConnectionError> {
        let description = runtime.describe().await?;
        let policy = network_policy(&runtime, &stored, interactive).await?;
        let secrets = Secrets::of(&stored.settings, &description, &policy);
        Ok(Connected {
            settings: stored.settings,
            policy,
            secrets,
            runtime,
        })
    }

    /// Tests the connection: what `test-connection`, the daemon's start and
    /// the console's Test button do.
    pub async fn test(&self) -> Result<ConnectionInfo, ConnectionError> {
        let call = self
            .runtime
            .test_connection(&self.policy, &self.settings)
            .await?;
        Ok(self.value(call, "the connection test failed")?)
    }

    /// A call's value, or its error with the secrets redacted (a PSA may
    /// echo them) and `what` failed in front.
    pub fn value<T>(
        &self,
        call: crate::runtime::Call<Result<T, ConnectorError>>,
        what: &str,
    ) -> Result<T, ConnectorFailed> {
        call.value
            .map_err(|e| ConnectorFailed(self.secrets.redact(&format!("{what}: {e}"))))
    }
}

/// A connector call that answered with an error, its message redacted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectorFailed(pub String);

/// The strings to redact from anything shown about a connection.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// The secrets of `settings` under `description` and `policy`.
    pub fn of(
        settings: &Settings,
        description: &ConnectorDescription,
        policy: &NetworkPolicy,
    ) -> Secrets {
        let mut secrets = secret_values(settings, description, policy);
        // Longest first; too short a "secret" would only shred the text.
        secrets.retain(|s| s.len() >= 6);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Secrets(secrets)
    }

    /// `text` with every secret replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.0 {
            out = out.replace(secret.as_str(), "[redacted]");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seatsync_contract::SettingDescription;

    fn description() -> ConnectorDescription {
        let setting = |key: &str, secret, required, default: Option<&str>| SettingDescription {
            key: key.into(),
            label: key.to_uppercase(),
            help: String::new(),
            secret,
            required,
            default_value: default.map(str::to_string),
        };
        ConnectorDescription {
            name: "toy".into(),
            version: "1".into(),
            psa: "Toy".into(),
            line_noun: "line".into(),
            contract_noun: "contract".into(),
            settings: vec![
                setting("host", false, true, None),
                setting("secret", true, true, None),
                setting("zone", false, false, Some("eu")),
                setting("extra", false, false, None),
            ],
            line_options: Vec::new(),
        }
    }

    #[test]
    fn settings_are_checked_against_the_description() {
        let given: Settings = [("host", "x.example"), ("secret", "s3cret-value")]
            .into_iter()
            .collect();
        let checked = checked_settings(&description(), given).unwrap();
        assert_eq!(checked.get("zone"), Some("eu"), "the default");
        assert_eq!(checked.get("extra"), None);
        let missing = checked_settings(
            &description(),
            [("host", "x.example")].into_iter().collect(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            missing.contains("the secret (setting 'secret') is missing"),
            "{missing}"
        );
        assert!(missing.contains("standard input"), "{missing}");
        let unknown = checked_settings(
            &description(),
            [("host", "x"), ("secret", "y"), ("colour", "z")]
                .into_iter()
                .collect(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            unknown,
            "this connector has no setting 'colour': its settings are host, secret, zone, extra"
        );
        assert_eq!(secret_keys(&description()), ["secret"]);
    }
}
