//! HTTP for the connector inside a component: [`Transport`] over the host's
//! `wasi:http/outgoing-handler`, with waki.

use std::time::Duration;

use crate::client::MAX_BODY_BYTES;
use crate::http::{Level, Method, READ_HEADERS, Request, Response, Transport, TransportError};

/// How long to wait for a TCP connection. The host clamps it further.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Read responses in chunks of this size, so the size cap is checked as the
/// body arrives rather than after it has all been buffered.
const CHUNK: u64 = 64 * 1024;

/// HTTP through the host's `wasi:http/outgoing-handler`, with waki. Log lines
/// go to the function given, so that any component can use it with its own
/// bindings of a log import.
pub struct WasiHttp<L: FnMut(Level, &str)> {
    log: L,
}

impl<L: FnMut(Level, &str)> WasiHttp<L> {
    /// A transport that logs through `log`.
    pub fn new(log: L) -> Self {
        WasiHttp { log }
    }
}

impl<L: FnMut(Level, &str)> Transport for WasiHttp<L> {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        let method = match request.method {
            Method::Get => waki::Method::Get,
            Method::Post => waki::Method::Post,
            Method::Patch => waki::Method::Patch,
            Method::Put => waki::Method::Put,
        };
        let mut builder = waki::Client::new()
            .request(method, &request.url)
            .connect_timeout(CONNECT_TIMEOUT);
        for header in &request.headers {
            let name =
                waki::header::HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| {
                    TransportError::refused(format!("invalid header name {:?}", header.name))
                })?;
            builder = builder.header(name, header.wire_value());
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.as_bytes().to_vec());
        }
        let response = builder.send().map_err(|e| {
            let message = e.to_string();
            // wasi:http's `HttpRequestDenied`: the host's policy refused the
            // request before sending it.
            if message.contains("HttpRequestDenied") {
                TransportError::refused("the host denied the request")
            } else {
                TransportError::retryable(message)
            }
        })?;
        let status = response.status_code();
        // Only the headers the connector reads: waki has already checked
        // and stored them all, and copying each of them again into strings
        // cost more than the rest of reading a small response. (One pass
        // over the headers: a lookup by name hashes and probes, which cost
        // more again in the guest than comparing a few short names.)
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| READ_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                // UTF-8 is all a `String` needs, and checking it runs a
                // word at a time over ASCII, where `to_str`'s visible-ASCII
                // check goes byte by byte: a `Link` header with its URLs
                // cost thousands of instructions a response that way.
                let value = match std::str::from_utf8(value.as_bytes()) {
                    Ok(text) => text.to_owned(),
                    Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
                };
                (name.as_str().to_owned(), value)
            })
            .collect();
        let mut body = Vec::new();
        loop {
            match response.chunk(CHUNK) {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_BODY_BYTES {
                        return Err(TransportError::retryable(format!(
                            "the response is larger than {} MiB",
                            MAX_BODY_BYTES / (1024 * 1024)
                        )));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(TransportError::retryable(format!(
                        "the response broke off after {} bytes: {e}",
                        body.len()
                    )));
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn log(&mut self, level: Level, message: &str) {
        (self.log)(level, message);
    }
}
