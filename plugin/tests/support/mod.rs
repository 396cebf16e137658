//! A scripted transport: replays canned ConnectWise responses and records
//! every request, wait and log line as a readable transcript for snapshots.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use seatsync_plugin::http::{Level, Request, Response, Transport, TransportError};
use seatsync_plugin::model::Connection;

/// The private key every test connection uses; no transcript may contain it.
pub const PRIVATE_KEY: &str = "Pr1vate-K3y-do-not-print";

/// A cloud connection as an MSP would enter it.
pub fn cloud_connection() -> Connection {
    Connection {
        site: "na.myconnectwise.net".into(),
        company_id: "acmeit".into(),
        public_key: "X3pUbl1cK3y".into(),
        private_key: PRIVATE_KEY.into(),
        client_id: "3c8e1f52-7d2a-4c5b-9f0e-seatsync-test".into(),
        codebase: None,
    }
}

/// Where the shared fixture files live.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/connectwise")
}

/// The text of `fixtures/connectwise/<path>`.
pub fn fixture(path: &str) -> String {
    let full = fixtures_dir().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}

/// One scripted reply: a response, or no response at all.
pub enum Reply {
    Respond(Response, String),
    Fail(String),
    /// The host refused to send the request (its sandbox policy).
    Refused(String),
}

/// A 2xx/4xx/5xx JSON response from a fixture file under `scenarios/`.
pub fn json(status: u16, scenario_file: &str) -> Reply {
    let body = fixture(&format!("scenarios/{scenario_file}"));
    Reply::Respond(
        Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/vnd.connectwise.com+json; version=2025.1".into(),
            )],
            body: body.into_bytes(),
        },
        scenario_file.to_string(),
    )
}

/// A JSON response with an inline body.
pub fn json_body(status: u16, body: serde_json::Value, label: &str) -> Reply {
    Reply::Respond(
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        },
        label.to_string(),
    )
}

/// A response with extra headers.
pub fn with_headers(reply: Reply, headers: &[(&str, &str)]) -> Reply {
    match reply {
        Reply::Respond(mut response, label) => {
            for (n, v) in headers {
                response.headers.push((n.to_string(), v.to_string()));
            }
            Reply::Respond(response, label)
        }
        fail => fail,
    }
}

/// A non-JSON response (an HTML page, a broken body).
pub fn raw(status: u16, content_type: &str, scenario_file: &str) -> Reply {
    let body = fixture(&format!("scenarios/{scenario_file}"));
    Reply::Respond(
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into_bytes(),
        },
        scenario_file.to_string(),
    )
}

/// No response: the connection failed.
pub fn no_response(message: &str) -> Reply {
    Reply::Fail(message.to_string())
}

/// Replays replies in order and records everything.
pub struct Scripted {
    replies: VecDeque<Reply>,
    transcript: String,
    /// Requests sent.
    pub requests: Vec<Request>,
    /// Log lines emitted.
    pub log: Vec<(Level, String)>,
}

impl Scripted {
    /// A transport that will answer with `replies`, in order.
    pub fn new(replies: impl IntoIterator<Item = Reply>) -> Self {
        Scripted {
            replies: replies.into_iter().collect(),
            transcript: String::new(),
            requests: Vec::new(),
            log: Vec::new(),
        }
    }

    /// The transcript followed by `result`, after checking that every reply
    /// was used and no secret leaked.
    pub fn finish(self, result: &impl std::fmt::Debug) -> String {
        assert!(
            self.replies.is_empty(),
            "{} scripted replies were never requested; transcript:\n{}",
            self.replies.len(),
            self.transcript
        );
        let mut out = self.transcript;
        let _ = write!(out, "\n=== result\n{result:#?}\n");
        assert_no_secret(&out);
        for (_, line) in &self.log {
            assert_no_secret(line);
        }
        out
    }

    /// Writes made: POST, PATCH and PUT requests.
    pub fn write_count(&self) -> usize {
        self.requests.iter().filter(|r| r.method.is_write()).count()
    }
}

/// Fails if `text` holds the private key or the Authorization value.
pub fn assert_no_secret(text: &str) {
    assert!(
        !text.contains(PRIVATE_KEY),
        "the private key leaked:\n{text}"
    );
    // base64("acmeit+X3pUbl1cK3y:Pr1vate-K3y-do-not-print"), what a leaked
    // Authorization header would contain.
    assert!(
        !text.contains("YWNtZWl0K1gzcFVibDFjSzN5"),
        "the Authorization header leaked:\n{text}"
    );
}

impl Transport for Scripted {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        let t = &mut self.transcript;
        let _ = writeln!(t, "\n>>> {} {}", request.method.as_str(), request.url);
        if let Some((_, query)) = request.url.split_once('?') {
            for pair in query.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let decoded = percent_decode(v);
                let _ = writeln!(t, "    ? {k} = {decoded}");
            }
        }
        for header in &request.headers {
            let _ = writeln!(t, "    {}: {}", header.name, header.display_value());
        }
        if let Some(body) = &request.body {
            let _ = writeln!(t, "    body: {body}");
        }
        self.requests.push(request.clone());
        match self.replies.pop_front() {
            Some(Reply::Respond(response, label)) => {
                let extra: Vec<String> = response
                    .headers
                    .iter()
                    .filter(|(n, _)| !n.eq_ignore_ascii_case("Content-Type"))
                    .map(|(n, v)| format!("{n}: {v}"))
                    .collect();
                let _ = writeln!(
                    t,
                    "<<< {} ({label}, {} bytes){}",
                    response.status,
                    response.body.len(),
                    if extra.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", extra.join("; "))
                    }
                );
                Ok(response)
            }
            Some(Reply::Refused(message)) => {
                let _ = writeln!(t, "<<< refused by the host: {message}");
                Err(TransportError::refused(message))
            }
            Some(Reply::Fail(message)) => {
                let _ = writeln!(t, "<<< no response: {message}");
                Err(TransportError::retryable(message))
            }
            None => panic!(
                "unexpected request, no reply scripted:\n{}",
                self.transcript
            ),
        }
    }

    fn sleep(&mut self, duration: Duration) {
        let _ = writeln!(self.transcript, "... sleep {} ms", duration.as_millis());
    }

    fn log(&mut self, level: Level, message: &str) {
        let _ = writeln!(self.transcript, "    log {level:?}: {message}");
        self.log.push((level, message.to_string()));
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
