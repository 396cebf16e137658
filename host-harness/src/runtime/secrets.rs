//! Which strings of a connection are secret.
//!
//! A call's log lines and exchanges pass through a [`Redactor`] built from
//! its settings, so that no secret reaches a log, history or the host's
//! output: the values of the settings the connector describes as secret,
//! and the strings its network plan says are derived from them (an
//! `Authorization` value, a token). The host knows no PSA's way of deriving
//! credentials; the connector tells it.

use seatsync_contract::{ConnectorDescription, Settings};

use super::policy::NetworkPolicy;
use super::sandbox::Redactor;

/// The secret strings of `settings` under `description`, and those the
/// policy's plan named.
pub fn secret_values(
    settings: &Settings,
    description: &ConnectorDescription,
    policy: &NetworkPolicy,
) -> Vec<String> {
    let mut secrets: Vec<String> = description
        .settings
        .iter()
        .filter(|s| s.secret)
        .filter_map(|s| settings.get(&s.key))
        .flat_map(|v| [v.to_string(), v.trim().to_string()])
        .collect();
    secrets.extend(policy.secrets.iter().cloned());
    secrets
}

/// The redactor of a call with `settings` under `policy`.
pub(super) fn redactor_for(
    settings: &Settings,
    description: &ConnectorDescription,
    policy: &NetworkPolicy,
) -> Redactor {
    Redactor::new(secret_values(settings, description, policy))
}
