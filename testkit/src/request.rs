//! A request as the kit's server received it.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::percent_decode_str;

/// Headers whose values are credentials: never shown by `Debug` nor in a
/// transcript, whatever the connector's description says.
pub(crate) const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// One request the component sent, exactly as the scripted server received
/// it: what a [`RequestMatcher`](crate::RequestMatcher) and a handler
/// closure look at.
///
/// It holds everything, the `Authorization` header included, so that a
/// handler can check credentials; its `Debug` hides credential headers, and
/// a [`Transcript`](crate::Transcript) shows a sanitized copy only.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Which of the kit's servers received it: `None` for the main one
    /// ([`Kit::base_url`](crate::Kit::base_url)), the name for another
    /// ([`Kit::server_url`](crate::Kit::server_url)).
    pub server: Option<String>,
    /// The method, upper-case, e.g. `GET`.
    pub method: String,
    /// The path, as sent (percent-encoded), e.g. `/v1/items`.
    pub path: String,
    /// The query string as sent, without the `?`; empty when there is none.
    pub query: String,
    /// The headers, names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (empty when there is none).
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The query's parameters, percent-decoded (`+` stays a `+`), in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        if self.query.is_empty() {
            return Vec::new();
        }
        self.query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The query string percent-decoded, e.g. `conditions=id in (1,2)&page=1`.
    pub fn decoded_query(&self) -> String {
        decode(&self.query)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body as JSON, when it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        if self.body.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// `METHOD /path?query`, for messages.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let shown = if is_credential_header(n) {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (n.as_str(), shown)
            })
            .collect();
        f.debug_struct("RecordedRequest")
            .field("server", &self.server)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &headers)
            .field("body", &self.body_text())
            .finish()
    }
}

/// Whether header `name` carries credentials.
pub(crate) fn is_credential_header(name: &str) -> bool {
    CREDENTIAL_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

/// Percent-decodes `text` (invalid UTF-8 replaced).
pub(crate) fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RecordedRequest {
        RecordedRequest {
            server: None,
            method: "GET".into(),
            path: "/v1/items".into(),
            query: "conditions=id%20in%20(1%2C2)&page=2&flag".into(),
            headers: vec![
                ("authorization".into(), "Bearer s3cret-token".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: br#"{"a":1}"#.to_vec(),
        }
    }

    #[test]
    fn the_query_is_decoded_pair_by_pair() {
        let r = request();
        assert_eq!(
            r.query_pairs(),
            [
                ("conditions".to_string(), "id in (1,2)".to_string()),
                ("page".to_string(), "2".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert_eq!(r.query_param("page").as_deref(), Some("2"));
        assert_eq!(r.decoded_query(), "conditions=id in (1,2)&page=2&flag");
        assert_eq!(r.header("Accept"), Some("application/json"));
        assert_eq!(r.body_json(), Some(serde_json::json!({"a": 1})));
    }

    #[test]
    fn debug_hides_the_credentials() {
        let shown = format!("{:?}", request());
        assert!(!shown.contains("s3cret-token"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
