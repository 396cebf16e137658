//! Which strings of a connection are secret.
//!
//! A call's log lines and exchanges pass through a [`Redactor`] built from
//! its connection, so that neither the private key nor the `Authorization`
//! header the connector derives from it reaches a log, history or the host's
//! output. The header is derived as the connector derives it, through
//! [`seatsync_plugin::connection::Endpoint`]; sandboxed calls and the
//! [`NativeConnector`](super::NativeConnector) share the derivation.

use seatsync_plugin::model::Connection;

use super::sandbox::Redactor;

/// The secrets of a connection: the private key, and the `Authorization`
/// value the connector builds from it.
pub(super) fn redactor_for(conn: &Connection) -> Redactor {
    let mut secrets = vec![
        conn.private_key.clone(),
        conn.private_key.trim().to_string(),
    ];
    if let Ok(endpoint) = seatsync_plugin::connection::Endpoint::new(conn) {
        for header in endpoint.headers() {
            if header.name.eq_ignore_ascii_case("authorization") {
                let value = header.wire_value();
                secrets.push(value.to_string());
                if let Some(encoded) = value.strip_prefix("Basic ") {
                    secrets.push(encoded.to_string());
                }
            }
        }
    }
    Redactor::new(secrets)
}
