//! What one call did, ready for a snapshot: the requests the server
//! received and how it answered, the call's log lines, and the result.
//!
//! A transcript is deterministic and secret-free by construction:
//!
//! - the server's base URL (`http://127.0.0.1:PORT`) is shown as
//!   `{base_url}`, its bare authority as `{authority}` (another server of
//!   the kit as `{base_url:NAME}` and `{authority:NAME}`);
//! - credential headers (`Authorization`, cookies, `X-Api-Key`) are shown as
//!   `[redacted]`, and connection headers (`Host`, `Content-Length`, ...)
//!   are left out;
//! - every secret is replaced with `[redacted]` everywhere (paths, queries,
//!   headers, bodies, log lines, the result): the values of the settings
//!   the connector's `describe` marks secret, whatever their length, in
//!   their raw, trimmed, percent-encoded and JSON-escaped forms, and the
//!   derived strings its `plan-network` named;
//! - no durations, no timestamps, no ports.
//!
//! The typed value ([`Transcript::outcome`]) is what the connector
//! returned, unchanged, for assertions; only what a transcript serializes
//! (and its `Debug`) is sanitized.

use std::fmt;
use std::sync::Arc;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use seatsync_contract::ConnectorError;
use seatsync_host::runtime::{LogLevel, LogLine, LogSource, RuntimeError};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::request::is_credential_header;
use crate::server::{AnsweredBy, Listening, Served};

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// What replaces the server's bare authority (`127.0.0.1:PORT`).
pub const AUTHORITY_PLACEHOLDER: &str = "{authority}";

/// Headers about the connection rather than the request: left out of
/// transcripts (`Host` carries the port).
const CONNECTION_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
];

/// Unreserved characters (RFC 3986) stay; everything else is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// The connector answered with a value.
    Ok(T),
    /// The connector answered with its error (or `plan-network` refused the
    /// settings, so the operation was not called).
    Err(ConnectorError),
    /// The host ended the call or refused it: a trap, a limit, an answer
    /// that breaks the contract, a network plan the host does not accept.
    HostError(RuntimeError),
}

impl<T> Outcome<T> {
    /// The value, if the connector answered with one.
    pub fn ok(&self) -> Option<&T> {
        match self {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// The connector's error, if it answered with one.
    pub fn err(&self) -> Option<&ConnectorError> {
        match self {
            Outcome::Err(e) => Some(e),
            _ => None,
        }
    }

    /// The host's error, if the host ended or refused the call.
    pub fn host_error(&self) -> Option<&RuntimeError> {
        match self {
            Outcome::HostError(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the connector answered with a value.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }

    fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Ok(v) => Outcome::Ok(f(v)),
            Outcome::Err(e) => Outcome::Err(e),
            Outcome::HostError(e) => Outcome::HostError(e),
        }
    }
}

/// A request as a transcript shows it (sanitized).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptRequest {
    /// Which of the kit's servers received it, when not the main one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path, as sent.
    pub path: String,
    /// The query's parameters, percent-decoded, in order.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_map")]
    pub query: Vec<(String, String)>,
    /// The headers, names lower-case, sorted by name; credential headers
    /// shown as `[redacted]`, connection headers left out.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_map")]
    pub headers: Vec<(String, String)>,
    /// The body: its JSON when it is JSON, otherwise its text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// How the server answered (sanitized).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscriptResponse {
    /// The status sent.
    pub status: u16,
    /// The scripted exchange's name (or `exchange N`), `handler`,
    /// `unmatched`, or `kit error: …` when the kit could not answer as
    /// scripted.
    pub answered_by: String,
}

/// One request the server received, and its answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptExchange {
    /// The request.
    pub request: TranscriptRequest,
    /// The answer.
    pub response: TranscriptResponse,
}

/// A request of the call that got no response from the server: refused by
/// the host's sandbox (another authority, a write in a dry run), or failed
/// on the way (connect, timeout, response too large).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotAnswered {
    /// The method.
    pub method: String,
    /// The URL (sanitized).
    pub url: String,
    /// Whether the sandbox refused it (it was never sent).
    pub denied: bool,
    /// Why there was no response, as the host says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Replaces secrets and the servers' addresses in text.
pub(crate) struct Sanitizer {
    /// Longest first, so that a secret containing another goes whole.
    secrets: Vec<String>,
    /// (what, placeholder): the servers' URLs, then their authorities,
    /// longest first.
    servers: Vec<(String, String)>,
}

impl Sanitizer {
    /// A sanitizer for `secrets` (each also in its trimmed, percent-encoded
    /// and JSON-escaped forms) and the kit's `servers`.
    pub(crate) fn new(
        secrets: impl IntoIterator<Item = String>,
        servers: &[Listening],
    ) -> Sanitizer {
        let mut all = Vec::new();
        for secret in secrets {
            let trimmed = secret.trim().to_string();
            for s in [secret, trimmed] {
                if s.is_empty() {
                    continue;
                }
                all.push(utf8_percent_encode(&s, NON_ALPHANUMERIC).to_string());
                all.push(utf8_percent_encode(&s, COMPONENT).to_string());
                if let Ok(quoted) = serde_json::to_string(&s)
                    && let Some(inner) = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"'))
                {
                    all.push(inner.to_string());
                }
                all.push(s);
            }
        }
        all.retain(|s| !s.is_empty());
        all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        all.dedup();
        let mut urls: Vec<(String, String)> = servers
            .iter()
            .map(|l| (l.base_url(), l.url_placeholder()))
            .collect();
        let mut authorities: Vec<(String, String)> = servers
            .iter()
            .map(|l| (l.addr.to_string(), l.authority_placeholder()))
            .collect();
        urls.sort_by_key(|u| std::cmp::Reverse(u.0.len()));
        authorities.sort_by_key(|a| std::cmp::Reverse(a.0.len()));
        urls.extend(authorities);
        Sanitizer {
            secrets: all,
            servers: urls,
        }
    }

    /// `text` without secrets, with placeholders for the servers.
    pub(crate) fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        for (what, placeholder) in &self.servers {
            out = replace_port_bounded(&out, what, placeholder);
        }
        out
    }

    /// `value` with every string (and object key) sanitized.
    pub(crate) fn value(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.text(&k), self.value(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// A serializable value, sanitized; a value that cannot be turned into
    /// JSON is shown as the reason why.
    fn serialized<T: Serialize>(&self, value: &T) -> Value {
        match serde_json::to_value(value) {
            Ok(v) => self.value(v),
            Err(e) => Value::String(format!("(the value cannot be shown as JSON: {e})")),
        }
    }

    fn request(&self, request: &crate::RecordedRequest) -> TranscriptRequest {
        let mut headers: Vec<(String, String)> = request
            .headers
            .iter()
            .filter(|(n, _)| !CONNECTION_HEADERS.contains(&n.as_str()))
            .map(|(n, v)| {
                let shown = if is_credential_header(n) {
                    REDACTED.to_string()
                } else {
                    self.text(v)
                };
                (n.to_ascii_lowercase(), shown)
            })
            .collect();
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        let body = if request.body.is_empty() {
            None
        } else {
            Some(match request.body_json() {
                Some(json) => self.value(json),
                None => Value::String(self.text(&request.body_text())),
            })
        };
        TranscriptRequest {
            server: request.server.clone(),
            method: request.method.clone(),
            path: self.text(&request.path),
            query: request
                .query_pairs()
                .into_iter()
                .map(|(k, v)| (self.text(&k), self.text(&v)))
                .collect(),
            headers,
            body,
        }
    }
}

/// `text` with `what` (ending in a port) replaced where no further digit
/// follows: `127.0.0.1:4242` is not part of `127.0.0.1:42421`.
fn replace_port_bounded(text: &str, what: &str, with: &str) -> String {
    if what.is_empty() || !text.contains(what) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(what) {
        let after = &rest[at + what.len()..];
        out.push_str(&rest[..at]);
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(what);
        } else {
            out.push_str(with);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `debug: message`, or `warn [stderr]: message` for lines that are not the
/// connector's own `log.emit`.
fn log_line(line: &LogLine, sanitizer: &Sanitizer) -> String {
    let level = match line.level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    let source = match line.source {
        LogSource::Connector => "",
        LogSource::Stdout => " [stdout]",
        LogSource::Stderr => " [stderr]",
        LogSource::Host => " [host]",
    };
    format!("{level}{source}: {}", sanitizer.text(&line.message))
}

/// What one call did. Serialize it with `insta::assert_yaml_snapshot!` (or
/// `assert_json_snapshot!`); read the typed result with
/// [`Transcript::outcome`].
pub struct Transcript<T> {
    call: String,
    exchanges: Vec<TranscriptExchange>,
    unmatched: Vec<TranscriptRequest>,
    not_answered: Vec<NotAnswered>,
    log: Vec<String>,
    requests: u32,
    writes: u32,
    outcome: Outcome<T>,
    result: Value,
    sanitizer: Arc<Sanitizer>,
}

/// An exchange as the host recorded it (the parts a transcript uses).
pub(crate) struct HostExchange {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) status: Option<u16>,
    pub(crate) error: Option<String>,
    pub(crate) denied: bool,
}

impl From<seatsync_host::runtime::Exchange> for HostExchange {
    fn from(e: seatsync_host::runtime::Exchange) -> HostExchange {
        HostExchange {
            method: e.method,
            url: e.url,
            status: e.status,
            error: e.error,
            denied: e.denied,
        }
    }
}

/// Everything a call produced, before sanitizing.
pub(crate) struct Raw<T> {
    pub(crate) call: String,
    pub(crate) served: Vec<Served>,
    pub(crate) host_exchanges: Vec<HostExchange>,
    pub(crate) log: Vec<LogLine>,
    pub(crate) notes: Vec<String>,
    pub(crate) requests: u32,
    pub(crate) writes: u32,
    pub(crate) outcome: Outcome<T>,
}

impl<T: Serialize> Transcript<T> {
    pub(crate) fn new(raw: Raw<T>, sanitizer: Arc<Sanitizer>) -> Transcript<T> {
        let s = &sanitizer;
        let mut exchanges = Vec::with_capacity(raw.served.len());
        let mut unmatched = Vec::new();
        for served in &raw.served {
            let request = s.request(&served.request);
            if served.answered_by != AnsweredBy::Handler
                && !matches!(served.answered_by, AnsweredBy::Exchange(_))
            {
                unmatched.push(request.clone());
            }
            exchanges.push(TranscriptExchange {
                request,
                response: TranscriptResponse {
                    status: served.status,
                    answered_by: s.text(&served.answered_by.describe()),
                },
            });
        }
        let not_answered = raw
            .host_exchanges
            .iter()
            .filter(|e| e.status.is_none())
            .map(|e| NotAnswered {
                method: e.method.clone(),
                url: s.text(&e.url),
                denied: e.denied,
                error: e.error.as_deref().map(|m| s.text(m)),
            })
            .collect();
        let mut log: Vec<String> = raw.log.iter().map(|l| log_line(l, s)).collect();
        log.extend(
            raw.notes
                .iter()
                .map(|n| format!("info [kit]: {}", s.text(n))),
        );
        let result = result_value(&raw.outcome, s);
        Transcript {
            call: raw.call,
            exchanges,
            unmatched,
            not_answered,
            log,
            requests: raw.requests,
            writes: raw.writes,
            outcome: raw.outcome,
            result,
            sanitizer,
        }
    }

    /// The same transcript with the value turned into something else (a
    /// summary of a long list, say); the new value is sanitized too.
    pub fn map<U: Serialize>(self, f: impl FnOnce(T) -> U) -> Transcript<U> {
        let outcome = self.outcome.map(f);
        let result = result_value(&outcome, &self.sanitizer);
        Transcript {
            call: self.call,
            exchanges: self.exchanges,
            unmatched: self.unmatched,
            not_answered: self.not_answered,
            log: self.log,
            requests: self.requests,
            writes: self.writes,
            outcome,
            result,
            sanitizer: self.sanitizer,
        }
    }
}

/// `{ok: …}`, `{error: …}` or `{host_error: "…"}`, sanitized.
fn result_value<T: Serialize>(outcome: &Outcome<T>, s: &Sanitizer) -> Value {
    let (key, value) = match outcome {
        Outcome::Ok(v) => ("ok", s.serialized(v)),
        Outcome::Err(e) => ("error", s.serialized(e)),
        Outcome::HostError(e) => ("host_error", Value::String(s.text(&e.to_string()))),
    };
    let mut map = serde_json::Map::new();
    map.insert(key.to_string(), value);
    Value::Object(map)
}

impl<T> Transcript<T> {
    /// The contract function called, e.g. `list-products`.
    pub fn call(&self) -> &str {
        &self.call
    }

    /// How the call ended, with the connector's value as it returned it
    /// (not sanitized: for assertions, not for printing).
    pub fn outcome(&self) -> &Outcome<T> {
        &self.outcome
    }

    /// How the call ended, by value.
    pub fn into_outcome(self) -> Outcome<T> {
        self.outcome
    }

    /// The connector's value, if it answered with one.
    pub fn ok(&self) -> Option<&T> {
        self.outcome.ok()
    }

    /// The connector's error, if it answered with one.
    pub fn err(&self) -> Option<&ConnectorError> {
        self.outcome.err()
    }

    /// The connector's value.
    ///
    /// # Panics
    ///
    /// When the call did not end with a value; the message is the
    /// (sanitized) transcript.
    pub fn expect_ok(&self) -> &T {
        match &self.outcome {
            Outcome::Ok(v) => v,
            _ => panic!(
                "{} did not return a value; its transcript:\n{}",
                self.call,
                self.to_json()
            ),
        }
    }

    /// The requests the server received, with their answers, in order.
    pub fn exchanges(&self) -> &[TranscriptExchange] {
        &self.exchanges
    }

    /// The requests nothing in the script (or the handler) answered: a test
    /// whose script is complete has none.
    pub fn unmatched(&self) -> &[TranscriptRequest] {
        &self.unmatched
    }

    /// The requests that got no response: refused by the sandbox or failed
    /// on the way.
    pub fn not_answered(&self) -> &[NotAnswered] {
        &self.not_answered
    }

    /// The call's log lines (sanitized): the connector's `log.emit` lines,
    /// then its stdout and stderr, then the host's and the kit's notes.
    pub fn log(&self) -> &[String] {
        &self.log
    }

    /// Requests the host sent for the call (refused ones not counted).
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// Of those, the POST, PATCH and PUT requests.
    pub fn writes(&self) -> u32 {
        self.writes
    }

    /// The same transcript without request headers, for shorter snapshots
    /// when the headers are not what a test is about.
    pub fn without_headers(mut self) -> Transcript<T> {
        for e in &mut self.exchanges {
            e.request.headers.clear();
        }
        for r in &mut self.unmatched {
            r.headers.clear();
        }
        self
    }

    /// The transcript as pretty JSON (sanitized).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("(transcript: {e})"))
    }
}

impl<T> Serialize for Transcript<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut st = serializer.serialize_struct("Transcript", 8)?;
        st.serialize_field("call", &self.call)?;
        st.serialize_field("exchanges", &self.exchanges)?;
        if self.unmatched.is_empty() {
            st.skip_field("unmatched")?;
        } else {
            st.serialize_field("unmatched", &self.unmatched)?;
        }
        if self.not_answered.is_empty() {
            st.skip_field("not_answered")?;
        } else {
            st.serialize_field("not_answered", &self.not_answered)?;
        }
        if self.log.is_empty() {
            st.skip_field("log")?;
        } else {
            st.serialize_field("log", &self.log)?;
        }
        st.serialize_field("requests", &self.requests)?;
        st.serialize_field("writes", &self.writes)?;
        st.serialize_field("result", &self.result)?;
        st.end()
    }
}

impl<T> fmt::Debug for Transcript<T> {
    /// The sanitized transcript, as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Pairs as a map, in order (a repeated key is repeated).
fn as_map<S: Serializer>(pairs: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_in_every_form_and_the_server_gets_placeholders() {
        let s = Sanitizer::new(["  a+b/c\"d ".to_string(), "xy".to_string()], &servers());
        assert_eq!(s.text("key=a+b/c\"d;"), "key=[redacted];");
        assert_eq!(s.text("q=a%2Bb%2Fc%22d&r"), "q=[redacted]&r");
        assert_eq!(s.text(r#"{"k":"a+b/c\"d"}"#), r#"{"k":"[redacted]"}"#);
        assert_eq!(s.text("short xy too"), "short [redacted] too");
        assert_eq!(
            s.text("GET http://127.0.0.1:4242/v1 via 127.0.0.1:4242"),
            "GET {base_url}/v1 via {authority}"
        );
        assert_eq!(
            s.text("http://127.0.0.1:42421/token, 127.0.0.1:42421, 127.0.0.1:42420"),
            "{base_url:auth}/token, {authority:auth}, 127.0.0.1:42420"
        );
        let v = s.value(serde_json::json!({"xy": ["a+b/c\"d", 1]}));
        assert_eq!(v, serde_json::json!({"[redacted]": ["[redacted]", 1]}));
    }

    fn servers() -> Vec<Listening> {
        vec![
            Listening {
                name: None,
                addr: "127.0.0.1:4242".parse().unwrap(),
            },
            Listening {
                name: Some("auth".into()),
                addr: "127.0.0.1:42421".parse().unwrap(),
            },
        ]
    }

    fn line(level: LogLevel, source: LogSource, message: &str) -> LogLine {
        LogLine {
            level,
            source,
            message: message.into(),
        }
    }

    #[test]
    fn a_transcript_lists_what_was_unmatched_refused_and_logged() {
        let base = "http://127.0.0.1:4242";
        let served = |path: &str, status: u16, answered_by: AnsweredBy| Served {
            request: crate::RecordedRequest {
                server: None,
                method: "POST".into(),
                path: path.into(),
                query: "token=s3cr%2Bt&page=1".into(),
                headers: vec![
                    ("host".into(), "127.0.0.1:4242".into()),
                    ("authorization".into(), "Bearer s3cr+t".into()),
                    ("x-callback".into(), format!("{base}/hook")),
                    ("accept".into(), "*/*".into()),
                ],
                body: br#"{"secret":"s3cr+t","n":1}"#.to_vec(),
            },
            status,
            answered_by,
        };
        let raw = Raw {
            call: "sync-organization".into(),
            served: vec![
                served("/v1/a", 200, AnsweredBy::Exchange("a".into())),
                served("/v1/b", 599, AnsweredBy::Unmatched),
            ],
            host_exchanges: vec![
                HostExchange {
                    method: "POST".into(),
                    url: format!("{base}/v1/a"),
                    status: Some(200),
                    error: None,
                    denied: false,
                },
                HostExchange {
                    method: "PATCH".into(),
                    url: "https://elsewhere.example/v1/c?k=s3cr+t".into(),
                    status: None,
                    error: Some("HTTP request denied by the host".into()),
                    denied: true,
                },
            ],
            log: vec![
                line(LogLevel::Debug, LogSource::Connector, "POST /v1/a -> 200"),
                line(LogLevel::Warn, LogSource::Stderr, "oops s3cr+t"),
            ],
            notes: vec!["a note".into()],
            requests: 2,
            writes: 2,
            outcome: Outcome::Ok(serde_json::json!({"url": format!("{base}/v1/a")})),
        };
        let sanitizer = Arc::new(Sanitizer::new(["s3cr+t".to_string()], &servers()));
        let t = Transcript::new(raw, sanitizer);
        let shown = t.to_json();
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(!shown.contains("4242"), "{shown}");
        assert_eq!(t.unmatched().len(), 1);
        assert_eq!(t.unmatched()[0].path, "/v1/b");
        assert_eq!(
            t.exchanges()[0].request.headers,
            [
                ("accept".to_string(), "*/*".to_string()),
                ("authorization".to_string(), REDACTED.to_string()),
                ("x-callback".to_string(), "{base_url}/hook".to_string()),
            ]
        );
        assert_eq!(
            t.exchanges()[0].request.query,
            [
                ("token".to_string(), REDACTED.to_string()),
                ("page".to_string(), "1".to_string())
            ]
        );
        assert_eq!(
            t.not_answered(),
            [NotAnswered {
                method: "PATCH".into(),
                url: "https://elsewhere.example/v1/c?k=[redacted]".into(),
                denied: true,
                error: Some("HTTP request denied by the host".into()),
            }]
        );
        assert_eq!(
            t.log(),
            [
                "debug: POST /v1/a -> 200",
                "warn [stderr]: oops [redacted]",
                "info [kit]: a note"
            ]
        );
        let t = t.map(|v| v["url"].as_str().map(str::len));
        assert_eq!(t.ok(), Some(&Some(base.len() + 5)));
        assert!(
            t.without_headers().exchanges()[0]
                .request
                .headers
                .is_empty()
        );
    }
}
