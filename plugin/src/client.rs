//! One ConnectWise API client per call: builds requests, retries what is
//! safe to retry, maps error responses, reads every page, and counts what it
//! sent.
//!
//! Retrying follows ConnectWise's guidance: 429 waits for `Retry-After`;
//! 5xx and transport failures back off exponentially; both are bounded so a
//! call always ends. A request that can create data (POST) is never retried
//! here after an ambiguous failure: [`Client::send`] reports it as
//! [`SendError::Ambiguous`] and the caller decides, after looking at
//! ConnectWise again.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::connection::Endpoint;
use crate::error::ConnectorError;
use crate::http::{Header, HeaderValue, Level, Method, Request, Response, Transport};
use crate::query::{ListQuery, link_has_next};

/// How often and how long to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The first back-off; doubled on each retry.
    pub base_delay: Duration,
    /// The longest back-off, and the longest `Retry-After` honoured.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts, 500 ms doubling to at most 30 s: within ConnectWise's
    /// advice for background jobs, and short enough for a host's per-call
    /// time limit.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The back-off before retry number `retry` (1-based).
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// The largest response body the connector accepts (32 MiB): far above a
/// 1,000-record page, far below what could exhaust a component's memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Why [`Client::send`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// A definite failure.
    Failed(ConnectorError),
    /// A non-idempotent request may or may not have been applied (a 5xx or
    /// no response). The caller must look before trying again.
    Ambiguous(ConnectorError),
}

impl SendError {
    /// The error, whichever kind.
    pub fn into_error(self) -> ConnectorError {
        match self {
            SendError::Failed(e) | SendError::Ambiguous(e) => e,
        }
    }
}

impl From<SendError> for ConnectorError {
    fn from(e: SendError) -> Self {
        e.into_error()
    }
}

/// A client for one endpoint over one transport, for the length of one call.
pub struct Client<'t, T: Transport> {
    transport: &'t mut T,
    api_url: String,
    headers: Vec<Header>,
    retry: RetryPolicy,
    requests: u32,
    writes: u32,
}

impl<'t, T: Transport> Client<'t, T> {
    /// A client for `api_url` (ending in `/apis/3.0`).
    pub fn new(transport: &'t mut T, endpoint: &Endpoint, api_url: String) -> Self {
        Client {
            transport,
            api_url,
            headers: endpoint.headers(),
            retry: RetryPolicy::default(),
            requests: 0,
            writes: 0,
        }
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// Writes ConnectWise accepted so far.
    pub fn writes(&self) -> u32 {
        self.writes
    }

    /// Counts a write that was found applied after an ambiguous failure.
    pub fn count_confirmed_write(&mut self) {
        self.writes += 1;
    }

    /// Emits a log line.
    pub fn log(&mut self, level: Level, message: &str) {
        self.transport.log(level, message);
    }

    /// The API base URL.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Builds a request for `path` (starting with `/`) and an encoded query.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<String>,
    ) -> Request {
        let mut url = format!("{}{path}", self.api_url);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let mut headers = self.headers.clone();
        if body.is_some() {
            headers.push(Header {
                name: "Content-Type".into(),
                value: HeaderValue::Plain("application/json".into()),
            });
        }
        Request {
            method,
            url,
            headers,
            body,
        }
    }

    /// Sends `request`, retrying what is safe, and returns a 2xx response.
    ///
    /// `what` names the resource for messages, e.g. "the additions of
    /// agreement 812".
    pub fn send(&mut self, request: &Request, what: &str) -> Result<Response, SendError> {
        // POST creates: repeating it after an unanswered attempt could create
        // twice. PATCH of a field to a value and GET are idempotent.
        let idempotent = request.method != Method::Post;
        let path = display_path(&request.url, &self.api_url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests += 1;
            let outcome = self.transport.send(request);
            let last = attempt >= self.retry.max_attempts;
            match outcome {
                Ok(response) if response.is_success() => {
                    self.transport.log(
                        Level::Debug,
                        &format!("{} {path} -> {}", request.method.as_str(), response.status),
                    );
                    if request.method.is_write() {
                        self.writes += 1;
                    }
                    return Ok(response);
                }
                Ok(response) if response.status == 429 => {
                    let retry_after = response
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<u32>().ok());
                    let asked = retry_after.map(|s| Duration::from_secs(u64::from(s)));
                    if last {
                        return Err(SendError::Failed(ConnectorError::RateLimited {
                            retry_after_seconds: retry_after,
                            message: format!(
                                "ConnectWise kept answering 429 Too Many Requests for {what} after {attempt} attempts; \
                                 run the sync again later, or lower the number of organizations synced at once"
                            ),
                        }));
                    }
                    // Retrying sooner than asked would only be throttled
                    // again; a wait longer than a call may take is left to
                    // the next run.
                    if let Some(asked) = asked.filter(|a| *a > self.retry.max_delay) {
                        return Err(SendError::Failed(ConnectorError::RateLimited {
                            retry_after_seconds: retry_after,
                            message: format!(
                                "ConnectWise throttled {what} and asked to wait {} s, longer than one call waits ({} s); \
                                 run the sync again later",
                                asked.as_secs(),
                                self.retry.max_delay.as_secs()
                            ),
                        }));
                    }
                    // A throttled request was not processed, so even a POST
                    // is safe to send again.
                    let wait = asked.unwrap_or_else(|| self.retry.backoff(attempt));
                    self.wait(
                        Level::Warn,
                        &format!("{} {path} -> 429", request.method.as_str()),
                        wait,
                    );
                }
                Ok(response) if is_transient(response.status) => {
                    let error = error_from_response(&response, what);
                    if !idempotent {
                        return Err(SendError::Ambiguous(error));
                    }
                    if last {
                        return Err(SendError::Failed(error));
                    }
                    let wait = self.retry.backoff(attempt);
                    self.wait(
                        Level::Warn,
                        &format!("{} {path} -> {}", request.method.as_str(), response.status),
                        wait,
                    );
                }
                Ok(response) => {
                    self.transport.log(
                        Level::Debug,
                        &format!("{} {path} -> {}", request.method.as_str(), response.status),
                    );
                    return Err(SendError::Failed(error_from_response(&response, what)));
                }
                Err(failure) if !failure.retryable => {
                    self.transport.log(
                        Level::Error,
                        &format!(
                            "{} {path} refused: {}",
                            request.method.as_str(),
                            failure.message
                        ),
                    );
                    return Err(SendError::Failed(ConnectorError::Transport(format!(
                        "the request for {what} was refused before it was sent ({}); the host allows only the \
                         configured ConnectWise site: check the site in the connection",
                        failure.message
                    ))));
                }
                Err(failure) => {
                    let error = ConnectorError::Transport(format!(
                        "no response from ConnectWise for {what} ({}); check that the site is reachable from this host",
                        failure.message
                    ));
                    if !idempotent {
                        return Err(SendError::Ambiguous(error));
                    }
                    if last {
                        return Err(SendError::Failed(error));
                    }
                    let wait = self.retry.backoff(attempt);
                    self.wait(
                        Level::Warn,
                        &format!(
                            "{} {path} failed: {}",
                            request.method.as_str(),
                            failure.message
                        ),
                        wait,
                    );
                }
            }
        }
    }

    /// Back-off before a retry.
    pub fn backoff(&mut self, retry: u32) {
        let wait = self.retry.backoff(retry);
        self.transport.sleep(wait);
    }

    fn wait(&mut self, level: Level, what: &str, wait: Duration) {
        self.transport.log(
            level,
            &format!("{what}; retrying in {} ms", wait.as_millis()),
        );
        self.transport.sleep(wait);
    }

    /// GETs `path` and parses the JSON body.
    pub fn get_json<R: DeserializeOwned>(
        &mut self,
        path: &str,
        query: &str,
        what: &str,
    ) -> Result<R, ConnectorError> {
        let request = self.request(Method::Get, path, query, None);
        let response = self.send(&request, what)?;
        parse_json(&response, what)
    }

    /// Reads every page of a list endpoint.
    ///
    /// Stops at a page shorter than the page size, or when the `Link` header
    /// offers no `next`; without a `Link` header a full page means "maybe
    /// more" and one more page is read.
    pub fn get_all<R: DeserializeOwned>(
        &mut self,
        path: &str,
        query: &ListQuery,
        what: &str,
    ) -> Result<Vec<R>, ConnectorError> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let request = self.request(Method::Get, path, &query.page(page), None);
            let response = self.send(&request, what)?;
            let items: Vec<R> = parse_json(&response, &format!("{what} (page {page})"))?;
            let full = items.len() >= query.page_size as usize;
            all.extend(items);
            let more = match link_has_next(response.header("Link")) {
                Some(next) => full && next,
                None => full,
            };
            if !more {
                return Ok(all);
            }
            page += 1;
        }
    }
}

/// 500, 502, 503 and 504: worth another try after a pause.
fn is_transient(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

/// The URL's path below the API base, for short log lines: the query is
/// left out (it is long and encoded) except for the page number.
fn display_path(url: &str, api_url: &str) -> String {
    let relative = url.strip_prefix(api_url).unwrap_or(url);
    let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
    match query.split('&').find_map(|p| p.strip_prefix("page=")) {
        Some(page) => format!("{path} (page {page})"),
        None => path.to_string(),
    }
}

/// Parses a JSON body, naming what was read when it is not what we expect.
pub fn parse_json<R: DeserializeOwned>(
    response: &Response,
    what: &str,
) -> Result<R, ConnectorError> {
    if response.body.len() > MAX_BODY_BYTES {
        return Err(ConnectorError::InvalidResponse(format!(
            "the response for {what} is larger than {} MiB",
            MAX_BODY_BYTES / (1024 * 1024)
        )));
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        let kind = if looks_like_html(response) {
            "an HTML page"
        } else {
            "a body that is not the JSON expected"
        };
        ConnectorError::InvalidResponse(format!(
            "ConnectWise answered {} for {what} with {kind} ({e}); check that the site is the ConnectWise API host",
            response.status
        ))
    })
}

fn looks_like_html(response: &Response) -> bool {
    response
        .header("Content-Type")
        .is_some_and(|c| c.to_ascii_lowercase().contains("html"))
        || response.body.trim_ascii_start().starts_with(b"<")
}

/// ConnectWise's error body, in either of its shapes: `{code, message,
/// errors}` and the 429 shape `{error, message}`. Every field is optional
/// because gateways answer with anything.
#[derive(Debug, Default, serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Option<Vec<ValidationError>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ValidationError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    field: Option<String>,
}

/// Maps an error response to a [`ConnectorError`] that says what to do.
pub fn error_from_response(response: &Response, what: &str) -> ConnectorError {
    let body: ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
    let code = body.code.or(body.error).unwrap_or_default();
    let mut message = body.message.unwrap_or_default();
    for v in body.errors.unwrap_or_default() {
        let detail = [v.code, v.field.map(|f| format!("field {f}")), v.message]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        if !detail.is_empty() {
            message.push_str(&format!(" [{detail}]"));
        }
    }
    if message.is_empty() && looks_like_html(response) {
        message = match html_title(&response.body) {
            Some(title) => format!("an HTML error page titled {title:?}"),
            None => "an HTML error page".into(),
        };
    }
    let said = match message.trim_end_matches(['.', ' ']) {
        "" => String::new(),
        m => format!(" ConnectWise said: {m}."),
    };
    match response.status {
        401 => ConnectorError::Unauthorized(format!(
            "ConnectWise rejected the credentials for {what} (401).{said} Check the company id, the public and \
             private keys, and that the API member is not inactive"
        )),
        403 => ConnectorError::Forbidden {
            permission: permission_in(&message),
            message: format!(
                "the API member may not access {what} (403).{said} Give its security role the rights the \
                 integration needs (Finance > Agreements, Procurement > Product Catalog, Companies > Company Maintenance)"
            ),
        },
        404 => ConnectorError::NotFound(format!(
            "ConnectWise answered 404 Not Found for {what}.{said} Check that the record still exists (it may \
             have been deleted since it was mapped); on ConnectWise cloud a 404 can also mean wrong credentials \
             or a site without the api- prefix: run test-connection"
        )),
        429 => ConnectorError::RateLimited {
            retry_after_seconds: response
                .header("Retry-After")
                .and_then(|v| v.trim().parse().ok()),
            message: format!("ConnectWise throttled {what} (429).{said}"),
        },
        status => ConnectorError::Remote {
            status,
            code,
            message: if message.is_empty() {
                format!("ConnectWise answered {status} for {what}")
            } else {
                format!("{message} (for {what})")
            },
        },
    }
}

/// The permission a 403 message names, when it names one: the text after
/// "permission"/"rights"/"access" up to the end of the sentence.
fn permission_in(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    for marker in [
        " missing: ",
        " access to ",
        " permission to ",
        " rights to ",
        " access ",
    ] {
        if let Some(at) = lower.find(marker) {
            let rest = message[at + marker.len()..].trim();
            let end = rest.find(['.', ';', '\n']).unwrap_or(rest.len());
            let permission = rest[..end].trim();
            if !permission.is_empty() {
                return Some(permission.to_string());
            }
        }
    }
    None
}

fn html_title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    let title = text[start..end].trim();
    (!title.is_empty()).then(|| title.chars().take(120).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let waits: Vec<_> = (1..=8).map(|r| p.backoff(r).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(p.backoff(200), p.max_delay);
    }

    #[test]
    fn forbidden_names_the_permission_when_connectwise_does() {
        let e = error_from_response(
            &response(
                403,
                r#"{"code":"Forbidden","message":"You do not have access to Finance > Agreements (Inquire Level).","errors":null}"#,
            ),
            "the additions of agreement 1",
        );
        let ConnectorError::Forbidden {
            permission,
            message,
        } = e
        else {
            panic!()
        };
        assert_eq!(
            permission.as_deref(),
            Some("Finance > Agreements (Inquire Level)")
        );
        assert!(message.contains("security role"));
        let e = error_from_response(
            &response(
                403,
                r#"{"code":"Forbidden","message":"Your security role is missing: Finance / Agreements (Add).","errors":null}"#,
            ),
            "x",
        );
        let ConnectorError::Forbidden { permission, .. } = e else {
            panic!()
        };
        assert_eq!(permission.as_deref(), Some("Finance / Agreements (Add)"));
        let e = error_from_response(&response(403, ""), "x");
        assert!(matches!(
            e,
            ConnectorError::Forbidden {
                permission: None,
                ..
            }
        ));
    }

    #[test]
    fn validation_errors_are_kept_and_html_pages_are_summarized() {
        let e = error_from_response(
            &response(
                400,
                r#"{"code":"InvalidObject","message":"addition object is invalid","errors":[{"code":"MissingRequiredField","message":"billCustomer is required.","resource":"addition","field":"billCustomer"}]}"#,
            ),
            "a new addition",
        );
        assert_eq!(
            e,
            ConnectorError::Remote {
                status: 400,
                code: "InvalidObject".into(),
                message: "addition object is invalid [MissingRequiredField, field billCustomer, billCustomer is required.] (for a new addition)".into(),
            }
        );
        let e = error_from_response(
            &response(
                502,
                "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            ),
            "the catalog",
        );
        let ConnectorError::Remote { message, .. } = e else {
            panic!()
        };
        assert!(message.contains("\"502 Bad Gateway\""), "{message}");
    }
}
