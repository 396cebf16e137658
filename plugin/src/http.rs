//! The connector's view of HTTP: plain request and response values and the
//! [`Transport`] that carries them.
//!
//! Everything above this module is pure logic over these values. The
//! component sends them over `wasi:http` (`wasi_http`); native tests replay
//! scripted responses and record every request; a native host can plug in
//! any client. That is what lets the connector be tested without a network
//! and measured against a native baseline behind the same interface.

use std::fmt;
use std::time::Duration;

/// An HTTP method the connector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reads.
    Get,
    /// Creates (not idempotent).
    Post,
    /// Changes fields.
    Patch,
    /// Replaces a record.
    Put,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
        }
    }

    /// Whether the method can change ConnectWise's data.
    pub fn is_write(self) -> bool {
        !matches!(self, Method::Get)
    }
}

/// A header value that must never be shown: `Debug` and [`Header::display_value`]
/// print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The real value, for the transport only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A header value: plain, or a secret the connector must never print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Safe to log.
    Plain(String),
    /// Sent, never shown.
    Secret(Secret),
}

/// One request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header name, as sent.
    pub name: String,
    /// The value.
    pub value: HeaderValue,
}

impl Header {
    /// The value to put on the wire.
    pub fn wire_value(&self) -> &str {
        match &self.value {
            HeaderValue::Plain(v) => v,
            HeaderValue::Secret(s) => s.expose(),
        }
    }

    /// The value to show in logs and snapshots.
    pub fn display_value(&self) -> &str {
        match &self.value {
            HeaderValue::Plain(v) => v,
            HeaderValue::Secret(_) => "[redacted]",
        }
    }
}

/// A request, fully built: absolute URL with its query already encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL, e.g. `https://api-na.myconnectwise.net/v4_6_release/apis/3.0/system/info`.
    pub url: String,
    /// Headers in the order they are sent.
    pub headers: Vec<Header>,
    /// A JSON body, for writes.
    pub body: Option<String>,
}

/// The response headers the connector reads ([`Response::header`]), in
/// lower case. A transport may leave every other header out of
/// [`Response::headers`]: the component's does, because converting each
/// header of each response into strings showed in its profile.
pub const READ_HEADERS: &[&str] = &["content-type", "link", "retry-after"];

/// A response as the connector needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Response headers, at least those of [`READ_HEADERS`]; names compared
    /// case-insensitively.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name`, compared case-insensitively. `name`
    /// must be one of [`READ_HEADERS`] (checked in debug builds, so that the
    /// native tests catch a header the component would not pass on).
    pub fn header(&self, name: &str) -> Option<&str> {
        debug_assert!(
            READ_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)),
            "the connector reads the header {name:?}: add it to READ_HEADERS"
        );
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What went wrong, without secrets (no headers, no body).
    pub message: String,
    /// Whether the request may have reached ConnectWise, so that trying
    /// again could help (and a create may have been applied). `false` when
    /// the request was never sent, e.g. the host's sandbox refused it.
    pub retryable: bool,
}

impl TransportError {
    /// A failure after the request may have left: worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            retryable: true,
        }
    }

    /// The request was refused before it was sent: retrying cannot help.
    pub fn refused(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            retryable: false,
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The severity of a log line, as in the WIT `log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Fine detail.
    Trace,
    /// Each exchange.
    Debug,
    /// Each change made.
    Info,
    /// Retries, conflicts.
    Warn,
    /// Failures.
    Error,
}

/// What the connector needs from its environment: send a request, wait,
/// and say what it is doing.
pub trait Transport {
    /// Sends one request and returns the whole response, or why none came.
    fn send(&mut self, request: &Request) -> Result<Response, TransportError>;

    /// Waits before a retry. Tests record the wait instead of sleeping.
    fn sleep(&mut self, duration: Duration);

    /// Emits one log line (already free of secrets).
    fn log(&mut self, level: Level, message: &str);
}
