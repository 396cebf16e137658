//! Scripted exchanges: which request gets which response.
//!
//! A [`Script`] is an ordered list of [`ScriptedExchange`]s, each a
//! [`RequestMatcher`] and a [`ScriptedResponse`]. For every request the
//! server answers with the first exchange whose matcher matches and which
//! has not been used up ([`ScriptedExchange::times`]); a request no exchange
//! matches is answered with status [`UNMATCHED_STATUS`] and reported in the
//! transcript. Use counts start again at every call: each call of the
//! connector sees the whole script, as the contract says a connector keeps
//! nothing between calls.
//!
//! Scripts are built in Rust or read from JSON files ([`Script::from_file`]):
//!
//! ```json
//! {
//!   "comment": "Tally: one page of items",
//!   "exchanges": [
//!     {
//!       "name": "token",
//!       "request": { "method": "POST", "path": "/oauth/token", "body": "grant_type=client_credentials" },
//!       "response": { "status": 200, "json": { "access_token": "t0ken" } }
//!     },
//!     {
//!       "request": { "method": "GET", "path": "/v1/items", "query": "page=2" },
//!       "response": { "status": 200, "body_file": "items_page_2.json" },
//!       "times": 1
//!     }
//!   ]
//! }
//! ```
//!
//! - `request`: `method` (any when left out), `path` (exact; a trailing `*`
//!   matches any path with that prefix, `*` alone any path), `query` (a
//!   substring of the query string, as sent or percent-decoded), `body` (a
//!   substring of the body), `server` (only requests to the kit's server of
//!   that name, see [`Kit::server_url`](crate::Kit::server_url); any server
//!   when left out).
//! - `response`: `status` (default 200), `headers` (an object), and at most
//!   one body: `json` (any JSON, sent as `application/json`), `text` (sent
//!   as `text/plain`), or `body_file` (a path relative to the script file,
//!   sent as `application/json` for `.json`, `text/html` for `.html`,
//!   `text/plain` otherwise); `content_type` overrides the content type.
//!   `{base_url}` in a header value or a body is replaced by the server's
//!   base URL when it is sent (a `Link` header, say), `{base_url:NAME}` by
//!   that of the server named `NAME`.
//! - `name` (optional) is what the transcript shows as `answered_by`;
//!   otherwise `exchange N` (counting from 1). `times` (optional) is how
//!   many times the exchange may answer in one call; unlimited when left
//!   out. `comment` fields are ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::KitError;
use crate::request::RecordedRequest;

/// The status of the answer to a request that no exchange matches (or that
/// a handler declined): not a real HTTP status, so no connector mistakes it
/// for its PSA's answer, and not one connectors retry (unlike 500-504).
pub const UNMATCHED_STATUS: u16 = 599;

/// The placeholder for the kit's server in scripted responses and in
/// transcripts, e.g. `{base_url}/v1/items?page=2`.
pub const BASE_URL_PLACEHOLDER: &str = "{base_url}";

/// Which requests an exchange answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMatcher {
    /// The method (compared case-insensitively); `None` matches any.
    pub method: Option<String>,
    /// The path, exactly as sent; a trailing `*` matches any path starting
    /// with what precedes it (`*` alone matches every path).
    pub path: String,
    /// A substring the query string must contain, as sent or
    /// percent-decoded (e.g. `page=2`, `conditions=id in (19)`).
    pub query: Option<String>,
    /// A substring the body must contain (e.g. `"quantity":8`).
    pub body: Option<String>,
    /// Only requests to the kit's server of this name; `None` matches
    /// requests to any of its servers.
    pub server: Option<String>,
}

impl RequestMatcher {
    /// Requests with `method` to `path`.
    pub fn new(method: &str, path: impl Into<String>) -> RequestMatcher {
        RequestMatcher {
            method: Some(method.to_ascii_uppercase()),
            path: path.into(),
            query: None,
            body: None,
            server: None,
        }
    }

    /// Requests with any method to `path`.
    pub fn any_method(path: impl Into<String>) -> RequestMatcher {
        RequestMatcher {
            method: None,
            path: path.into(),
            query: None,
            body: None,
            server: None,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> RequestMatcher {
        RequestMatcher::new("GET", path)
    }

    /// `POST path`.
    pub fn post(path: impl Into<String>) -> RequestMatcher {
        RequestMatcher::new("POST", path)
    }

    /// `PATCH path`.
    pub fn patch(path: impl Into<String>) -> RequestMatcher {
        RequestMatcher::new("PATCH", path)
    }

    /// `PUT path`.
    pub fn put(path: impl Into<String>) -> RequestMatcher {
        RequestMatcher::new("PUT", path)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> RequestMatcher {
        RequestMatcher::new("DELETE", path)
    }

    /// The same matcher, also requiring `substring` in the query string.
    pub fn query(mut self, substring: impl Into<String>) -> RequestMatcher {
        self.query = Some(substring.into());
        self
    }

    /// The same matcher, also requiring `substring` in the body.
    pub fn body(mut self, substring: impl Into<String>) -> RequestMatcher {
        self.body = Some(substring.into());
        self
    }

    /// The same matcher, only for requests to the kit's server `name`
    /// ([`Kit::server_url`](crate::Kit::server_url)).
    pub fn on_server(mut self, name: impl Into<String>) -> RequestMatcher {
        self.server = Some(name.into());
        self
    }

    /// Whether `request` matches.
    pub fn matches(&self, request: &RecordedRequest) -> bool {
        if self.server.is_some() && self.server != request.server {
            return false;
        }
        if let Some(method) = &self.method
            && !method.eq_ignore_ascii_case(&request.method)
        {
            return false;
        }
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => request.path.starts_with(prefix),
            None => request.path == self.path,
        };
        if !path_ok {
            return false;
        }
        if let Some(query) = &self.query
            && !request.query.contains(query.as_str())
            && !request.decoded_query().contains(query.as_str())
        {
            return false;
        }
        if let Some(body) = &self.body
            && !request.body_text().contains(body.as_str())
        {
            return false;
        }
        true
    }
}

/// A response the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedResponse {
    /// The status, 100 to 999.
    pub status: u16,
    /// The headers, in order (`Content-Type` among them when there is a body).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl ScriptedResponse {
    /// A response with no body.
    pub fn empty(status: u16) -> ScriptedResponse {
        ScriptedResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response (`Content-Type: application/json`).
    pub fn json(status: u16, body: serde_json::Value) -> ScriptedResponse {
        ScriptedResponse::bytes(status, "application/json", body.to_string().into_bytes())
    }

    /// A text response (`Content-Type: text/plain; charset=utf-8`).
    pub fn text(status: u16, body: impl Into<String>) -> ScriptedResponse {
        ScriptedResponse::bytes(
            status,
            "text/plain; charset=utf-8",
            body.into().into_bytes(),
        )
    }

    /// A response with `body` of `content_type`.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> ScriptedResponse {
        ScriptedResponse {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    /// A response whose body is the file at `path`, with a content type
    /// from its extension (`.json`: `application/json`, `.html`/`.htm`:
    /// `text/html`, otherwise `text/plain`).
    pub fn file(status: u16, path: impl AsRef<Path>) -> Result<ScriptedResponse, KitError> {
        let path = path.as_ref();
        let body = std::fs::read(path)
            .map_err(|e| KitError::io(format!("cannot read {}", path.display()), e))?;
        Ok(ScriptedResponse::bytes(status, content_type_of(path), body))
    }

    /// The same response with one more header (replacing a `Content-Type`
    /// when `name` is `Content-Type`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ScriptedResponse {
        let name = name.into();
        if name.eq_ignore_ascii_case("content-type") {
            self.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        }
        self.headers.push((name, value.into()));
        self
    }
}

/// One scripted exchange: which requests, what answer, how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedExchange {
    /// Shown in the transcript as `answered_by`; `exchange N` when `None`.
    pub name: Option<String>,
    /// Which requests it answers.
    pub request: RequestMatcher,
    /// The answer.
    pub response: ScriptedResponse,
    /// How many times it may answer in one call; `None` for any number.
    /// A used-up exchange lets later ones answer (a 503, then a 200).
    pub times: Option<u32>,
}

impl ScriptedExchange {
    /// An unnamed exchange that answers any number of times.
    pub fn new(request: RequestMatcher, response: ScriptedResponse) -> ScriptedExchange {
        ScriptedExchange {
            name: None,
            request,
            response,
            times: None,
        }
    }

    /// The same exchange, named for the transcript.
    pub fn named(mut self, name: impl Into<String>) -> ScriptedExchange {
        self.name = Some(name.into());
        self
    }

    /// The same exchange, answering at most `times` times in one call.
    pub fn times(mut self, times: u32) -> ScriptedExchange {
        self.times = Some(times);
        self
    }
}

/// An ordered list of scripted exchanges (see the [module](self) docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    exchanges: Vec<ScriptedExchange>,
}

impl Script {
    /// An empty script: every request is unmatched.
    pub fn new() -> Script {
        Script::default()
    }

    /// The script with one more exchange that answers requests matching
    /// `request` with `response`, any number of times.
    pub fn exchange(self, request: RequestMatcher, response: ScriptedResponse) -> Script {
        self.push(ScriptedExchange::new(request, response))
    }

    /// The script with one more exchange.
    pub fn push(mut self, exchange: ScriptedExchange) -> Script {
        self.exchanges.push(exchange);
        self
    }

    /// This script's exchanges followed by `other`'s.
    pub fn then(mut self, other: Script) -> Script {
        self.exchanges.extend(other.exchanges);
        self
    }

    /// The exchanges, in order.
    pub fn exchanges(&self) -> &[ScriptedExchange] {
        &self.exchanges
    }

    /// Reads a JSON script file; `body_file`s are relative to its directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Script, KitError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| KitError::io(format!("cannot read the script {}", path.display()), e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        parse(&text, dir, path)
    }

    /// Parses a JSON script; `body_file`s are relative to `base_dir`.
    pub fn from_json(text: &str, base_dir: impl AsRef<Path>) -> Result<Script, KitError> {
        parse(text, base_dir.as_ref(), Path::new("<inline>"))
    }

    /// The exchange that answers `request`, given how often each was used
    /// in this call (counted up here), or `None`.
    pub(crate) fn answer(
        &self,
        request: &RecordedRequest,
        uses: &mut Vec<u32>,
    ) -> Option<(String, ScriptedResponse)> {
        uses.resize(self.exchanges.len(), 0);
        for (i, exchange) in self.exchanges.iter().enumerate() {
            if exchange.times.is_some_and(|t| uses[i] >= t) {
                continue;
            }
            if exchange.request.matches(request) {
                uses[i] += 1;
                let name = exchange
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("exchange {}", i + 1));
                return Some((name, exchange.response.clone()));
            }
        }
        None
    }
}

/// The content type for a body file, from its extension.
fn content_type_of(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// A script file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScript {
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<String>,
    exchanges: Vec<FileExchange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileExchange {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<String>,
    request: FileRequest,
    response: FileResponse,
    #[serde(default)]
    times: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRequest {
    #[serde(default)]
    method: Option<String>,
    path: String,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    server: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileResponse {
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    json: Option<serde_json::Value>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    body_file: Option<PathBuf>,
    #[serde(default)]
    content_type: Option<String>,
}

fn ok() -> u16 {
    200
}

fn parse(text: &str, dir: &Path, file: &Path) -> Result<Script, KitError> {
    let invalid = |message: String| KitError::Script {
        file: file.to_path_buf(),
        message,
    };
    let raw: FileScript = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut script = Script::new();
    for (i, e) in raw.exchanges.into_iter().enumerate() {
        let at = |message: &str| invalid(format!("exchange {}: {message}", i + 1));
        let r = e.response;
        if !(100..=999).contains(&r.status) {
            return Err(at(&format!(
                "the status {} is not an HTTP status (100 to 999)",
                r.status
            )));
        }
        let bodies = [r.json.is_some(), r.text.is_some(), r.body_file.is_some()];
        if bodies.iter().filter(|b| **b).count() > 1 {
            return Err(at(
                "give at most one of `json`, `text` and `body_file` as the response body",
            ));
        }
        let mut response = match (r.json, r.text, r.body_file) {
            (Some(json), _, _) => ScriptedResponse::json(r.status, json),
            (_, Some(text), _) => ScriptedResponse::text(r.status, text),
            (_, _, Some(body_file)) => {
                let full = dir.join(&body_file);
                let body = std::fs::read(&full).map_err(|err| {
                    at(&format!(
                        "cannot read the body_file {}: {err}",
                        full.display()
                    ))
                })?;
                ScriptedResponse::bytes(r.status, content_type_of(&full), body)
            }
            (None, None, None) => ScriptedResponse::empty(r.status),
        };
        if let Some(content_type) = r.content_type {
            response = response.header("Content-Type", content_type);
        }
        for (name, value) in r.headers {
            response = response.header(name, value);
        }
        let request = RequestMatcher {
            method: e.request.method.map(|m| m.to_ascii_uppercase()),
            path: e.request.path,
            query: e.request.query,
            body: e.request.body,
            server: e.request.server,
        };
        script = script.push(ScriptedExchange {
            name: e.name,
            request,
            response,
            times: e.times,
        });
    }
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, query: &str) -> RecordedRequest {
        RecordedRequest {
            server: None,
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn the_first_exchange_not_used_up_answers() {
        let script = Script::new()
            .push(
                ScriptedExchange::new(RequestMatcher::get("/items"), ScriptedResponse::empty(503))
                    .times(1),
            )
            .push(
                ScriptedExchange::new(RequestMatcher::get("/items"), ScriptedResponse::empty(200))
                    .named("items"),
            );
        let mut uses = Vec::new();
        let answers: Vec<(String, u16)> = (0..3)
            .filter_map(|_| script.answer(&get("/items", ""), &mut uses))
            .map(|(name, r)| (name, r.status))
            .collect();
        assert_eq!(
            answers,
            [
                ("exchange 1".to_string(), 503),
                ("items".to_string(), 200),
                ("items".to_string(), 200)
            ]
        );
        assert!(script.answer(&get("/other", ""), &mut uses).is_none());
    }

    #[test]
    fn matchers_look_at_method_path_query_and_body() {
        let m = RequestMatcher::get("/v1/*").query("conditions=id in (19)");
        assert!(m.matches(&get("/v1/items", "conditions=id%20in%20(19)&page=1")));
        assert!(!m.matches(&get("/v2/items", "conditions=id%20in%20(19)")));
        assert!(!m.matches(&get("/v1/items", "page=1")));
        let mut post = get("/v1/lines", "");
        post.method = "POST".into();
        post.body = br#"{"quantity":8}"#.to_vec();
        assert!(!m.matches(&post));
        assert!(
            RequestMatcher::post("/v1/lines")
                .body(r#""quantity":8"#)
                .matches(&post)
        );
        assert!(
            !RequestMatcher::post("/v1/lines")
                .body(r#""quantity":9"#)
                .matches(&post)
        );
        assert!(RequestMatcher::any_method("*").matches(&post));
        assert!(
            !RequestMatcher::any_method("*")
                .on_server("auth")
                .matches(&post)
        );
        post.server = Some("auth".into());
        assert!(
            RequestMatcher::any_method("*")
                .on_server("auth")
                .matches(&post)
        );
        assert!(RequestMatcher::any_method("*").matches(&post));
    }

    #[test]
    fn script_files_are_checked() {
        let text =
            r#"{"exchanges": [{"request": {"path": "/a"}, "response": {"json": 1, "text": "x"}}]}"#;
        let e = Script::from_json(text, ".").unwrap_err().to_string();
        assert!(e.contains("exchange 1: give at most one"), "{e}");
        let typo = r#"{"exchanges": [{"request": {"path": "/a", "quer": "x"}, "response": {}}]}"#;
        let e = Script::from_json(typo, ".").unwrap_err().to_string();
        assert!(e.contains("unknown field `quer`"), "{e}");
        let status = r#"{"exchanges": [{"request": {"path": "/a"}, "response": {"status": 42}}]}"#;
        let e = Script::from_json(status, ".").unwrap_err().to_string();
        assert!(e.contains("not an HTTP status"), "{e}");
        let missing = r#"{"exchanges": [{"request": {"path": "/a"}, "response": {"body_file": "nope.json"}}]}"#;
        let e = Script::from_json(missing, "/nonexistent")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read the body_file"), "{e}");
    }

    #[test]
    fn a_script_file_becomes_exchanges() {
        let text = r#"{
          "comment": "c",
          "exchanges": [
            {"name": "who", "request": {"method": "get", "path": "/v1/whoami"},
             "response": {"status": 200, "json": {"version": "3.1"}, "headers": {"X-Trace": "1"}}},
            {"request": {"path": "*"}, "response": {"status": 404, "text": "no", "content_type": "text/html"}, "times": 2}
          ]
        }"#;
        let script = Script::from_json(text, ".").unwrap();
        let [who, rest] = script.exchanges() else {
            panic!("two exchanges")
        };
        assert_eq!(who.name.as_deref(), Some("who"));
        assert_eq!(who.request.method.as_deref(), Some("GET"));
        assert_eq!(who.response.body, br#"{"version":"3.1"}"#);
        assert_eq!(
            who.response.headers,
            [
                ("Content-Type".to_string(), "application/json".to_string()),
                ("X-Trace".to_string(), "1".to_string())
            ]
        );
        assert_eq!(rest.times, Some(2));
        assert_eq!(rest.request.method, None);
        assert_eq!(
            rest.response.headers,
            [("Content-Type".to_string(), "text/html".to_string())]
        );
    }
}
