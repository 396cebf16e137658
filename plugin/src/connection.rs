//! Turning what an MSP typed into an API endpoint and credentials.
//!
//! The rules come from ConnectWise's developer guide: cloud sites need the
//! `api-` host prefix, the base path is `/{codebase}apis/3.0`, and every call
//! carries Basic auth of `companyId+publicKey:privateKey`, a `clientId` header
//! and a pinned `Accept` version.

use base64::Engine as _;
use seatsync_contract::Settings;

use crate::error::ConnectorError;
use crate::http::{Header, HeaderValue, Secret};
use crate::model::Connection;

/// The keys of the connector's settings (`describe`), in form order.
pub mod keys {
    /// The ConnectWise site ([`super::Connection::site`]).
    pub const SITE: &str = "site";
    /// The login company identifier.
    pub const COMPANY_ID: &str = "company-id";
    /// The API member's public key.
    pub const PUBLIC_KEY: &str = "public-key";
    /// The API member's private key: the one secret setting.
    pub const PRIVATE_KEY: &str = "private-key";
    /// The integration's client id.
    pub const CLIENT_ID: &str = "client-id";
    /// The API codebase (optional; `auto` looks it up).
    pub const CODEBASE: &str = "codebase";
}

/// The connection the settings describe. Sends nothing.
///
/// A required setting that is absent is refused here, naming it; values
/// are checked by [`Endpoint::new`] (an empty or malformed value gets the
/// same message as ever). Keys the connector does not know are ignored.
pub fn from_settings(settings: &Settings) -> Result<Connection, ConnectorError> {
    // One pass over the settings (every call starts here): a key is
    // compared with the few this connector knows rather than looked up
    // once for each of them.
    let (mut site, mut company_id, mut public_key) = (None, None, None);
    let (mut private_key, mut client_id, mut codebase) = (None, None, None);
    for (key, value) in settings.iter() {
        let slot = match key {
            keys::SITE => &mut site,
            keys::COMPANY_ID => &mut company_id,
            keys::PUBLIC_KEY => &mut public_key,
            keys::PRIVATE_KEY => &mut private_key,
            keys::CLIENT_ID => &mut client_id,
            keys::CODEBASE => &mut codebase,
            _ => continue,
        };
        *slot = Some(value);
    }
    let required = |key: &str, value: Option<&str>| -> Result<String, ConnectorError> {
        value.map(str::to_string).ok_or_else(|| {
            let description = crate::description();
            let help = description
                .setting(key)
                .map(|s| format!(" ({}): {}", s.label, s.help))
                .unwrap_or_default();
            invalid(format!("the required setting '{key}' is missing{help}"))
        })
    };
    Ok(Connection {
        site: required(keys::SITE, site)?,
        company_id: required(keys::COMPANY_ID, company_id)?,
        public_key: required(keys::PUBLIC_KEY, public_key)?,
        private_key: required(keys::PRIVATE_KEY, private_key)?,
        client_id: required(keys::CLIENT_ID, client_id)?,
        codebase: codebase.map(str::to_string),
    })
}

/// Whether the connection asks for its codebase to be looked up (`auto`).
pub fn asks_for_codebase_lookup(conn: &Connection) -> bool {
    conn.codebase
        .as_deref()
        .is_some_and(|c| c.trim().eq_ignore_ascii_case(AUTO_CODEBASE))
}

/// The model version the connector was written and tested against. Pinned so
/// that a ConnectWise upgrade cannot change the shapes it reads.
pub const API_VERSION: &str = "2025.1";

/// The codebase that routes to the tenant's current version on cloud and
/// on-premise alike.
pub const DEFAULT_CODEBASE: &str = "v4_6_release/";

/// The `connection.codebase` value that asks for a lookup.
pub const AUTO_CODEBASE: &str = "auto";

/// Host suffixes of ConnectWise's cloud; these need the `api-` prefix.
const CLOUD_SUFFIXES: &[&str] = &[".myconnectwise.net", ".connectwisedev.com"];

/// Where the API lives: scheme and authority, without the codebase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// `https` or `http`.
    pub scheme: &'static str,
    /// `host` or `host:port`, lower-cased, with the `api-` prefix applied.
    pub authority: String,
    /// Whether the host is one of ConnectWise's cloud domains.
    pub is_cloud: bool,
}

impl Site {
    /// Parses the `site` an MSP entered.
    ///
    /// Accepts `host`, `host:port` and `http(s)://host[:port][/]`. Refuses
    /// anything else with a message saying what to enter instead.
    pub fn parse(input: &str) -> Result<Site, ConnectorError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid(
                "the site is empty: enter your ConnectWise host, e.g. na.myconnectwise.net",
            ));
        }
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("https") => ("https", rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("http") => ("http", rest),
            Some((s, _)) => {
                return Err(invalid(format!(
                    "the site {trimmed:?} has the scheme {s:?}: use https://your-host or just the host"
                )));
            }
            None => ("https", trimmed),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') || authority.contains('#') {
            return Err(invalid(format!(
                "the site {trimmed:?} has a path: enter only the host, e.g. na.myconnectwise.net"
            )));
        }
        let authority = authority.to_ascii_lowercase();
        check_authority(&authority, trimmed)?;

        let host = host_of(&authority);
        let is_cloud = CLOUD_SUFFIXES.iter().any(|s| host.ends_with(s));
        if is_cloud && scheme == "http" {
            return Err(invalid(format!(
                "the site {trimmed:?} is ConnectWise cloud, which requires https: use https:// or just the host"
            )));
        }
        let authority = if is_cloud && !host.starts_with("api-") {
            format!("api-{authority}")
        } else {
            authority
        };
        Ok(Site {
            scheme,
            authority,
            is_cloud,
        })
    }

    /// `scheme://authority`, no trailing slash.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// A validated connection: where to send requests and the headers to send.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The site.
    pub site: Site,
    /// The codebase, ending in `/`, or `None` when it still has to be looked
    /// up (`auto`).
    pub codebase: Option<String>,
    /// The login company identifier (for the codebase lookup).
    pub company_id: String,
    authorization: Secret,
    client_id: String,
}

impl Endpoint {
    /// Checks a connection and prepares its headers. Sends nothing.
    pub fn new(conn: &Connection) -> Result<Endpoint, ConnectorError> {
        let site = Site::parse(&conn.site)?;
        let company_id = required("company id", &conn.company_id)?;
        let public_key = required("public key", &conn.public_key)?;
        let private_key = required("private key", &conn.private_key)?;
        let client_id = required("client id", &conn.client_id)?;
        if company_id.contains('+') || company_id.contains(':') {
            return Err(invalid(
                "the company id contains '+' or ':': enter the company name typed on the ConnectWise login screen",
            ));
        }
        if public_key.contains(':') {
            return Err(invalid(
                "the public key contains ':': copy the public key again from the API member's keys",
            ));
        }
        let codebase = match conn.codebase.as_deref().map(str::trim) {
            None | Some("") => Some(DEFAULT_CODEBASE.to_string()),
            Some(_) if asks_for_codebase_lookup(conn) => None,
            Some(c) => Some(normalize_codebase_value(c)?),
        };
        let credentials = format!("{company_id}+{public_key}:{private_key}");
        let authorization = Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ));
        Ok(Endpoint {
            site,
            codebase,
            company_id: company_id.to_string(),
            authorization,
            client_id: client_id.to_string(),
        })
    }

    /// The API base URL, `…/{codebase}apis/3.0`, once the codebase is known.
    pub fn api_url(&self) -> Option<String> {
        self.codebase
            .as_ref()
            .map(|c| format!("{}/{c}apis/3.0", self.site.origin()))
    }

    /// What a host must redact besides the secret settings themselves: the
    /// `Authorization` value sent on every call (`Basic …`) and its base64
    /// part alone. Never empty.
    pub fn derived_secrets(&self) -> Vec<String> {
        let full = self.authorization.expose();
        let mut secrets = vec![full.to_string()];
        if let Some(encoded) = full.strip_prefix("Basic ") {
            secrets.push(encoded.to_string());
        }
        secrets
    }

    /// The headers every API call carries, in the order they are sent.
    pub fn headers(&self) -> Vec<Header> {
        vec![
            Header {
                name: "Accept".into(),
                value: HeaderValue::Plain(format!(
                    "application/vnd.connectwise.com+json; version={API_VERSION}"
                )),
            },
            Header {
                name: "Authorization".into(),
                value: HeaderValue::Secret(self.authorization.clone()),
            },
            Header {
                name: "clientId".into(),
                value: HeaderValue::Plain(self.client_id.clone()),
            },
            Header {
                name: "User-Agent".into(),
                value: HeaderValue::Plain(concat!("seatsync/", env!("CARGO_PKG_VERSION")).into()),
            },
        ]
    }
}

/// Accepts `v2025_1`, `v2025_1/` or `/v2025_1/` and returns `v2025_1/`.
pub(crate) fn normalize_codebase_value(input: &str) -> Result<String, ConnectorError> {
    let bare = input.trim_matches('/');
    let valid = !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !valid {
        return Err(invalid(format!(
            "the codebase {input:?} is not a ConnectWise codebase: use e.g. v4_6_release, v2025_1, or auto"
        )));
    }
    Ok(format!("{bare}/"))
}

fn required<'a>(what: &str, value: &'a str) -> Result<&'a str, ConnectorError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(format!(
            "the {what} is empty: enter it as shown in ConnectWise"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid(format!(
            "the {what} contains a control character: copy it again without line breaks"
        )));
    }
    Ok(v)
}

/// `host[:port]` or `[v6]:port`: letters, digits, dots, dashes, a numeric port.
fn check_authority(authority: &str, shown: &str) -> Result<(), ConnectorError> {
    let bad = || {
        invalid(format!(
            "the site {shown:?} is not a host name: enter e.g. na.myconnectwise.net or cw.example.com"
        ))
    };
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(bad)?;
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(bad());
        }
        (v6, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(invalid(format!(
            "the site {shown:?} has an invalid port: use a number from 1 to 65535"
        )));
    }
    let host_ok = authority.starts_with('[')
        || (!host.is_empty()
            && !host.starts_with('.')
            && !host.ends_with('.')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    if host_ok { Ok(()) } else { Err(bad()) }
}

fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority;
    }
    authority.split(':').next().unwrap_or(authority)
}

fn invalid(message: impl Into<String>) -> ConnectorError {
    ConnectorError::InvalidConfig(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(site: &str) -> Connection {
        Connection {
            site: site.into(),
            company_id: "contoso".into(),
            public_key: "pub".into(),
            private_key: "priv-SECRET".into(),
            client_id: "0000-client".into(),
            codebase: None,
        }
    }

    #[test]
    fn cloud_sites_get_the_api_prefix_once() {
        for input in [
            "na.myconnectwise.net",
            "https://na.myconnectwise.net/",
            "NA.MyConnectWise.net",
            "api-na.myconnectwise.net",
        ] {
            let site = Site::parse(input).unwrap();
            assert_eq!(site.authority, "api-na.myconnectwise.net", "{input}");
            assert!(site.is_cloud);
            assert_eq!(site.scheme, "https");
        }
        let staging = Site::parse("staging.connectwisedev.com").unwrap();
        assert_eq!(staging.authority, "api-staging.connectwisedev.com");
    }

    #[test]
    fn on_premise_and_loopback_sites_are_used_as_given() {
        let site = Site::parse("cw.example.com").unwrap();
        assert_eq!(site.origin(), "https://cw.example.com");
        assert!(!site.is_cloud);
        let site = Site::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(site.origin(), "http://127.0.0.1:8080");
        let site = Site::parse("[::1]:9000").unwrap();
        assert_eq!(site.origin(), "https://[::1]:9000");
    }

    #[test]
    fn bad_sites_say_what_to_enter() {
        for (input, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("ftp://cw.example.com", "scheme"),
            ("https://cw.example.com/v4_6_release/apis/3.0", "path"),
            ("cw example.com", "not a host"),
            ("user@cw.example.com", "not a host"),
            ("cw.example.com:0", "port"),
            ("cw.example.com:99999", "port"),
            ("http://na.myconnectwise.net", "requires https"),
            (".example.com", "not a host"),
        ] {
            let err = Site::parse(input).unwrap_err();
            let ConnectorError::InvalidConfig(message) = &err else {
                panic!("{input}: {err:?}")
            };
            assert!(message.contains(needle), "{input}: {message}");
        }
    }

    #[test]
    fn authorization_is_basic_company_plus_public_colon_private() {
        let endpoint = Endpoint::new(&conn("na.myconnectwise.net")).unwrap();
        let headers = endpoint.headers();
        let auth = headers.iter().find(|h| h.name == "Authorization").unwrap();
        let encoded = auth.wire_value().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"contoso+pub:priv-SECRET");
        assert_eq!(auth.display_value(), "[redacted]");
        assert!(!format!("{headers:?}").contains("priv-SECRET"));
        assert!(!format!("{endpoint:?}").contains("priv-SECRET"));
        assert!(!format!("{:?}", conn("x")).contains("priv-SECRET"));
    }

    #[test]
    fn codebase_defaults_normalizes_and_can_be_looked_up() {
        let endpoint = Endpoint::new(&conn("cw.example.com")).unwrap();
        assert_eq!(
            endpoint.api_url().unwrap(),
            "https://cw.example.com/v4_6_release/apis/3.0"
        );
        let mut c = conn("cw.example.com");
        c.codebase = Some("/v2025_1".into());
        assert_eq!(
            Endpoint::new(&c).unwrap().api_url().unwrap(),
            "https://cw.example.com/v2025_1/apis/3.0"
        );
        c.codebase = Some("Auto".into());
        assert_eq!(Endpoint::new(&c).unwrap().api_url(), None);
        c.codebase = Some("../etc".into());
        assert!(matches!(
            Endpoint::new(&c),
            Err(ConnectorError::InvalidConfig(_))
        ));
    }

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        pairs.iter().copied().collect()
    }

    const ALL: &[(&str, &str)] = &[
        (keys::SITE, "na.myconnectwise.net"),
        (keys::COMPANY_ID, "contoso"),
        (keys::PUBLIC_KEY, "pub"),
        (keys::PRIVATE_KEY, "priv-SECRET"),
        (keys::CLIENT_ID, "0000-client"),
    ];

    #[test]
    fn settings_become_the_connection() {
        let got = from_settings(&settings(ALL)).unwrap();
        assert_eq!(got, conn("na.myconnectwise.net"));
        assert!(!asks_for_codebase_lookup(&got));
        let mut with_codebase = settings(ALL);
        with_codebase.set(keys::CODEBASE, "auto");
        with_codebase.set("unknown-key", "ignored");
        let got = from_settings(&with_codebase).unwrap();
        assert_eq!(got.codebase.as_deref(), Some("auto"));
        assert!(asks_for_codebase_lookup(&got));
    }

    #[test]
    fn each_missing_required_setting_is_named() {
        for (key, _) in ALL {
            let mut s = settings(ALL);
            s.remove(key);
            let err = from_settings(&s).unwrap_err();
            let ConnectorError::InvalidConfig(message) = &err else {
                panic!("{key}: {err:?}")
            };
            assert!(
                message.starts_with(&format!("the required setting '{key}' is missing (")),
                "{message}"
            );
            assert!(!message.contains("priv-SECRET"), "{message}");
        }
        let err = from_settings(&Settings::new()).unwrap_err();
        assert!(err.to_string().contains("'site'"), "{err}");
    }

    #[test]
    fn present_but_empty_settings_get_todays_messages() {
        let mut s = settings(ALL);
        s.set(keys::PRIVATE_KEY, " ");
        let conn = from_settings(&s).unwrap();
        assert_eq!(
            Endpoint::new(&conn).unwrap_err(),
            ConnectorError::InvalidConfig(
                "the private key is empty: enter it as shown in ConnectWise".into()
            )
        );
        s.set(keys::SITE, "");
        let conn = from_settings(&s).unwrap();
        assert!(
            Endpoint::new(&conn)
                .unwrap_err()
                .to_string()
                .contains("the site is empty")
        );
    }

    #[test]
    fn derived_secrets_are_the_authorization_value_and_its_base64() {
        let endpoint = Endpoint::new(&conn("na.myconnectwise.net")).unwrap();
        let secrets = endpoint.derived_secrets();
        let auth = endpoint
            .headers()
            .into_iter()
            .find(|h| h.name == "Authorization")
            .unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode("contoso+pub:priv-SECRET");
        assert_eq!(secrets, [auth.wire_value().to_string(), encoded.clone()]);
        assert_eq!(secrets[0], format!("Basic {encoded}"));
    }

    #[test]
    fn empty_or_malformed_credentials_are_refused_before_sending() {
        let mut c = conn("cw.example.com");
        c.private_key = " ".into();
        let err = Endpoint::new(&c).unwrap_err();
        assert_eq!(
            err,
            ConnectorError::InvalidConfig(
                "the private key is empty: enter it as shown in ConnectWise".into()
            )
        );
        let mut c = conn("cw.example.com");
        c.public_key = "a:b".into();
        assert!(Endpoint::new(&c).is_err());
        let mut c = conn("cw.example.com");
        c.client_id = "abc\n".into();
        assert!(
            Endpoint::new(&c).is_ok(),
            "surrounding whitespace is trimmed"
        );
        c.client_id = "a\u{7}bc".into();
        assert!(Endpoint::new(&c).is_err());
    }
}
