//! Where a call's requests may go: the [`NetworkPolicy`], built from the
//! endpoints the connector said its settings lead to (`plan-network`) and
//! checked by the host before it trusts them.
//!
//! The connector proposes, the host disposes: a plan is refused as a whole
//! if it names a wildcard, user information, a path, plain http the host
//! does not allow, or an IP address other than loopback (testing). Every request
//! of a call is then checked against the accepted endpoints (scheme and
//! authority, case-insensitive, default ports ignored).

use std::net::IpAddr;
use std::path::PathBuf;

use seatsync_contract::{Endpoint, EndpointRole, NetworkPlan};

use super::RuntimeError;

/// Where the guest may send requests during one call, and what it must not
/// show.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// The endpoints requests may go to.
    pub endpoints: Vec<Endpoint>,
    /// Whether plain `http` is allowed: loopback testing only. Otherwise
    /// only `https`.
    pub allow_http: bool,
    /// A PEM file of CA certificates trusted in addition to the public web
    /// roots, for an on-premise PSA behind a private CA. Read at the start
    /// of each call, so a replaced file takes effect on the next call.
    pub ca_file: Option<PathBuf>,
    /// A person is waiting for the answer (`connect`, `test-connection`,
    /// the lists): a refused connection ends the call at once instead of
    /// after the connector's retries. (A server that does not speak TLS, or
    /// whose certificate is not trusted, ends every call at once: retrying
    /// cannot change that.)
    pub interactive: bool,
    /// Strings derived from the secrets that the connector named in its
    /// plan (an encoded `Authorization` value, say), redacted with the
    /// secret settings from everything the host shows.
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for NetworkPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkPolicy")
            .field("endpoints", &self.endpoints)
            .field("allow_http", &self.allow_http)
            .field("ca_file", &self.ca_file)
            .field("interactive", &self.interactive)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}

impl NetworkPolicy {
    /// The policy for a connector's plan, after checking every endpoint:
    /// `https` (or `http` when `allow_http`), a host name (an IP address
    /// only on loopback, for testing), no wildcard, no user information,
    /// no path. The error names the endpoint and why.
    pub fn from_plan(plan: &NetworkPlan, allow_http: bool) -> Result<NetworkPolicy, RuntimeError> {
        if plan.endpoints.is_empty() {
            return Err(RuntimeError::InvalidSite(
                "the connector named no endpoint for these settings: check the settings".into(),
            ));
        }
        let mut endpoints = Vec::with_capacity(plan.endpoints.len());
        for e in &plan.endpoints {
            endpoints.push(checked(e, allow_http)?);
        }
        Ok(NetworkPolicy {
            endpoints,
            allow_http,
            ca_file: None,
            interactive: false,
            secrets: plan.secrets.clone(),
        })
    }

    /// A policy that allows no request at all (`describe`, `plan-network`).
    pub fn nowhere() -> NetworkPolicy {
        NetworkPolicy {
            endpoints: Vec::new(),
            allow_http: false,
            ca_file: None,
            interactive: false,
            secrets: Vec::new(),
        }
    }

    /// The same policy for a call a person waits for
    /// ([`NetworkPolicy::interactive`]).
    pub fn interactive(mut self) -> NetworkPolicy {
        self.interactive = true;
        self
    }

    /// The same policy, trusting the CA certificates in `path` too.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> NetworkPolicy {
        self.ca_file = Some(path.into());
        self
    }

    /// The endpoints as `scheme://authority`, for messages.
    pub fn describe_endpoints(&self) -> String {
        self.endpoints
            .iter()
            .map(|e| format!("{}://{}", e.scheme, e.authority))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The sites this policy reaches, as one key: each endpoint's scheme
    /// and normalized authority (lower case, no default port), sorted and
    /// deduplicated, so two connections that reach the same hosts get the
    /// same key whatever way their settings spelled them (the store's site
    /// lock, `site:<key>`).
    pub fn site_key(&self) -> String {
        let mut sites: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| {
                let scheme = e.scheme.to_ascii_lowercase();
                let authority = normalize_authority(&scheme, &e.authority);
                format!("{scheme}://{authority}")
            })
            .collect();
        sites.sort();
        sites.dedup();
        sites.join(", ")
    }

    /// Whether a request to `scheme://authority` is allowed, and what the
    /// endpoint is for; the error says why not.
    pub fn check(&self, scheme: &str, authority: &str) -> Result<EndpointRole, String> {
        // Every request of every call is checked: compared in place, with
        // nothing allocated unless it is refused.
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            "https"
        } else if scheme.eq_ignore_ascii_case("http") {
            if !self.allow_http {
                return Err("plain http is not allowed for this connection".into());
            }
            "http"
        } else {
            return Err(format!(
                "the scheme {:?} is not allowed",
                scheme.to_ascii_lowercase()
            ));
        };
        if authority.contains('@') {
            return Err("URLs with user information are not allowed".into());
        }
        let asked = bare_authority(scheme, authority);
        // An authority planned both as the API and for signing in is the
        // API: its writes are counted, journaled and refused in a dry run.
        let role = self
            .endpoints
            .iter()
            .filter(|e| {
                e.scheme.eq_ignore_ascii_case(scheme)
                    && bare_authority(scheme, &e.authority).eq_ignore_ascii_case(asked)
            })
            .map(|e| e.role)
            .reduce(|found, role| {
                if role == EndpointRole::Api {
                    role
                } else {
                    found
                }
            });
        if let Some(role) = role {
            Ok(role)
        } else if self.endpoints.is_empty() {
            Err("this call may not send requests".into())
        } else {
            Err(format!(
                "only the connection's endpoints ({}) may be reached",
                self.describe_endpoints()
            ))
        }
    }
}

/// An endpoint of a plan, lower-cased, or why it is refused.
fn checked(e: &Endpoint, allow_http: bool) -> Result<Endpoint, RuntimeError> {
    let shown = format!("{}://{}", e.scheme, e.authority);
    let refuse = |why: &str| {
        RuntimeError::InvalidSite(format!(
            "the connector's endpoint {shown} cannot be allowed: {why}"
        ))
    };
    let scheme = e.scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(RuntimeError::InvalidSite(format!(
                "the site {shown:?} uses http, which this host does not allow: use https"
            )));
        }
        _ => {
            return Err(refuse(
                "only https (or http for loopback testing) is allowed",
            ));
        }
    }
    let authority = e.authority.trim().to_ascii_lowercase();
    if authority.is_empty() || authority.contains(['/', '?', '#', ' ']) {
        return Err(refuse("it is not a host name"));
    }
    if authority.contains('*') {
        return Err(refuse("wildcards are not allowed"));
    }
    if authority.contains('@') {
        return Err(refuse("user information is not allowed"));
    }
    // An address rather than a name: only loopback (testing), never a
    // private or public address the connector could pick to reach
    // something else.
    if ip_of(&authority).is_some_and(|ip| !ip.is_loopback()) {
        return Err(refuse(
            "an IP address is allowed only on loopback, for testing; use the server's host name",
        ));
    }
    Ok(Endpoint {
        scheme,
        authority,
        role: e.role,
    })
}

/// The IP address an authority names, if it is one.
fn ip_of(authority: &str) -> Option<IpAddr> {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    authority.split(':').next()?.parse().ok()
}

/// Lower-cases an authority and drops the scheme's default port.
pub(super) fn normalize_authority(scheme: &str, authority: &str) -> String {
    bare_authority(scheme, authority).to_ascii_lowercase()
}

/// An authority without surrounding space and without the default port of
/// `scheme` (lower case): what [`normalize_authority`] lower-cases, and
/// what [`NetworkPolicy::check`] compares ignoring case.
fn bare_authority<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let trimmed = authority.trim();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    match trimmed.strip_suffix(default_port) {
        Some(bare) if !bare.is_empty() => bare,
        _ => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_key_is_the_same_however_the_hosts_were_spelled() {
        let a = NetworkPolicy::from_plan(
            &plan(&[
                ("https", "Login.Example.com:443"),
                ("https", "api.example.com"),
            ]),
            false,
        )
        .unwrap();
        let b = NetworkPolicy::from_plan(
            &plan(&[
                ("https", "api.example.com:443"),
                ("https", "login.example.com"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(
            a.site_key(),
            "https://api.example.com, https://login.example.com"
        );
        assert_eq!(a.site_key(), b.site_key());
    }

    fn plan(endpoints: &[(&str, &str)]) -> NetworkPlan {
        NetworkPlan {
            endpoints: endpoints
                .iter()
                .map(|(s, a)| Endpoint::api(*s, *a))
                .collect(),
            secrets: vec!["Basic abc123".into()],
        }
    }

    #[test]
    fn every_endpoint_of_a_plan_is_allowed_and_nothing_else() {
        let policy = NetworkPolicy::from_plan(
            &plan(&[
                ("https", "Auth.Example.com"),
                ("https", "api.example.com:8443"),
            ]),
            false,
        )
        .unwrap();
        assert!(policy.check("https", "auth.example.com:443").is_ok());
        assert!(policy.check("HTTPS", "api.example.com:8443").is_ok());
        assert!(policy.check("https", "api.example.com").is_err());
        assert!(policy.check("http", "auth.example.com").is_err());
        let refused = policy.check("https", "elsewhere.example.com").unwrap_err();
        assert_eq!(
            refused,
            "only the connection's endpoints (https://auth.example.com, https://api.example.com:8443) \
             may be reached"
        );
        assert!(!format!("{policy:?}").contains("abc123"));
    }

    #[test]
    fn each_allowed_request_carries_its_endpoints_role() {
        let endpoint = |authority: &str, role| Endpoint {
            scheme: "https".into(),
            authority: authority.into(),
            role,
        };
        let plan = NetworkPlan {
            endpoints: vec![
                endpoint("api.example.com", EndpointRole::Api),
                endpoint("login.example.com", EndpointRole::Auth),
                // Planned twice: the API's role wins.
                endpoint("both.example.com", EndpointRole::Auth),
                endpoint("both.example.com", EndpointRole::Api),
            ],
            secrets: Vec::new(),
        };
        let policy = NetworkPolicy::from_plan(&plan, false).unwrap();
        assert_eq!(
            policy.check("https", "api.example.com"),
            Ok(EndpointRole::Api)
        );
        assert_eq!(
            policy.check("https", "LOGIN.example.com:443"),
            Ok(EndpointRole::Auth)
        );
        assert_eq!(
            policy.check("https", "both.example.com"),
            Ok(EndpointRole::Api)
        );
    }

    #[test]
    fn a_plan_with_a_dangerous_endpoint_is_refused() {
        for (endpoint, allow_http, needle) in [
            (
                ("https", "*.example.com"),
                false,
                "wildcards are not allowed",
            ),
            (("https", "user@example.com"), false, "user information"),
            (("https", "example.com/path"), false, "not a host name"),
            (
                ("http", "example.com"),
                false,
                "uses http, which this host does not allow",
            ),
            (("ftp", "example.com"), true, "only https"),
            (("https", "10.0.0.5"), false, "only on loopback"),
            (("http", "10.0.0.5:80"), true, "only on loopback"),
        ] {
            let error = NetworkPolicy::from_plan(&plan(&[endpoint]), allow_http)
                .unwrap_err()
                .to_string();
            assert!(error.contains(needle), "{endpoint:?}: {error}");
        }
        assert!(NetworkPolicy::from_plan(&plan(&[("http", "127.0.0.1:8080")]), true).is_ok());
        assert!(NetworkPolicy::from_plan(&plan(&[("https", "127.0.0.1:8443")]), false).is_ok());
        assert!(NetworkPolicy::from_plan(&plan(&[("http", "[::1]:8080")]), true).is_ok());
        assert!(NetworkPolicy::from_plan(&plan(&[]), true).is_err());
    }
}
