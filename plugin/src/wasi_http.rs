//! HTTP for the connector inside a component: [`Transport`] over the host's
//! `wasi:http/outgoing-handler`, called directly through the bindings of
//! the `plugin` world (`wasi:http@0.2.2`, the version the world declares).
//!
//! Not through an HTTP client library: the request is already built (an
//! absolute URL the connector made, headers in order), and the host
//! validates headers and URLs itself. A client that parses the URL into a
//! URI, checks and copies every header into its own map and converts that
//! map back into `wasi:http` fields cost about as much as the rest of a
//! re-sync's request in the component (docs/performance.md).

use std::time::Duration;

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingResponse, Method as WasiMethod, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::client::MAX_BODY_BYTES;
use crate::http::{Level, Method, READ_HEADERS, Request, Response, Transport, TransportError};

/// How long to wait for a TCP connection. The host clamps it further.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Read responses in chunks of this size, so the size cap is checked as the
/// body arrives rather than after it has all been buffered.
const CHUNK: u64 = 64 * 1024;

/// HTTP through the host's `wasi:http/outgoing-handler`. Log lines go to
/// the function given, so that any component can use it with its own
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
        let outgoing = outgoing_request(request)?;
        let options = RequestOptions::new();
        options
            .set_connect_timeout(Some(CONNECT_TIMEOUT.as_nanos() as u64))
            .map_err(|()| TransportError::refused("the host refused the connect timeout"))?;
        let body = outgoing
            .body()
            .map_err(|()| TransportError::refused("the request's body was already taken"))?;
        // The host sees the request here; the body follows (a write is
        // journaled by the host once its body is complete).
        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(error_code)?;
        if let Some(bytes) = &request.body {
            write_body(&body, bytes.as_bytes())?;
        }
        OutgoingBody::finish(body, None).map_err(error_code)?;

        let answer = match future.get() {
            Some(answer) => answer,
            None => {
                future.subscribe().block();
                future
                    .get()
                    .ok_or_else(|| TransportError::retryable("no response after waiting for it"))?
            }
        };
        let response = answer
            .map_err(|()| TransportError::retryable("the response was already taken"))?
            .map_err(error_code)?;
        drop(future);
        read_response(response)
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn log(&mut self, level: Level, message: &str) {
        (self.log)(level, message);
    }
}

/// The `wasi:http` request for `request`: fields, method, and the URL cut
/// into scheme, authority and path with query. Refused (not sent) when a
/// header is not valid HTTP or the URL is not an absolute http(s) one.
fn outgoing_request(request: &Request) -> Result<OutgoingRequest, TransportError> {
    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.wire_value().as_bytes().to_vec()))
        .collect();
    // The error names no value: a header value may be a secret.
    let fields = Fields::from_list(&entries)
        .map_err(|e| TransportError::refused(format!("invalid request header: {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
        Method::Patch => WasiMethod::Patch,
        Method::Put => WasiMethod::Put,
    };
    let (scheme, authority, path_with_query) = split_url(&request.url).ok_or_else(|| {
        TransportError::refused(format!(
            "not an absolute http(s) URL: {:?}",
            request.url.split('?').next().unwrap_or_default()
        ))
    })?;
    let refused = |what: &str| TransportError::refused(format!("the host refused the {what}"));
    outgoing
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    outgoing
        .set_path_with_query(Some(path_with_query))
        .map_err(|()| refused("path"))?;
    Ok(outgoing)
}

/// `scheme://authority/path?query` as its scheme, authority and path with
/// query (`/` when the URL has no path).
fn split_url(url: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return None;
    };
    let (authority, path_with_query) = match rest.find(['/', '?']) {
        Some(at) if rest.as_bytes()[at] == b'/' => rest.split_at(at),
        Some(_) => return None,
        None => (rest, "/"),
    };
    (!authority.is_empty()).then_some((scheme, authority, path_with_query))
}

/// Writes a request body, as much at a time as the stream takes.
fn write_body(body: &OutgoingBody, mut bytes: &[u8]) -> Result<(), TransportError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let failed = |e: StreamError| TransportError::retryable(format!("{e:?}"));
    let stream = body
        .write()
        .map_err(|()| TransportError::retryable("outgoing request write failed"))?;
    let ready = stream.subscribe();
    while !bytes.is_empty() {
        ready.block();
        let permit = stream.check_write().map_err(failed)?;
        let (chunk, rest) = bytes.split_at(bytes.len().min(permit as usize));
        stream.write(chunk).map_err(failed)?;
        bytes = rest;
    }
    stream.flush().map_err(failed)?;
    ready.block();
    stream.check_write().map_err(failed)?;
    Ok(())
}

/// Status, the headers the connector reads ([`READ_HEADERS`]) and the whole
/// body, up to the connector's size cap.
fn read_response(response: IncomingResponse) -> Result<Response, TransportError> {
    let status = response.status();
    let fields = response.headers();
    let mut headers = Vec::new();
    for name in READ_HEADERS {
        for value in fields.get(name) {
            // UTF-8 is all a `String` needs (checked a word at a time over
            // ASCII); anything else is converted lossily.
            let value = match String::from_utf8(value) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            headers.push((name.to_string(), value));
        }
    }
    // A child of the response: dropped before the body is taken.
    drop(fields);
    let incoming = response
        .consume()
        .map_err(|()| TransportError::retryable("the response's body was already taken"))?;
    let body = read_body(&incoming)?;
    drop(IncomingBody::finish(incoming));
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn read_body(incoming: &IncomingBody) -> Result<Vec<u8>, TransportError> {
    let stream = incoming
        .stream()
        .map_err(|()| TransportError::retryable("the response's body was already read"))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(CHUNK) {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY_BYTES {
                    return Err(TransportError::retryable(format!(
                        "the response is larger than {} MiB",
                        MAX_BODY_BYTES / (1024 * 1024)
                    )));
                }
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(e) => {
                return Err(TransportError::retryable(format!(
                    "the response broke off after {} bytes: input_stream read failed: {e:?}",
                    body.len()
                )));
            }
        }
    }
}

/// A `wasi:http` error as the connector's: the host's refusal is not
/// retried; anything else may have reached the PSA.
fn error_code(e: ErrorCode) -> TransportError {
    match e {
        // The host's policy refused the request before sending it.
        ErrorCode::HttpRequestDenied => TransportError::refused("the host denied the request"),
        other => TransportError::retryable(other.to_string()),
    }
}
