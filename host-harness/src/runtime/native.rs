//! The host's HTTP for code running natively: the very transport the
//! sandbox uses, behind a blocking, PSA-neutral interface.
//!
//! A [`HostTransport`] sends requests through the same hook as a
//! component's `wasi:http` requests: the network policy, the pacing, the
//! pooled sender, the timeouts and size cap, the exchange log and the
//! counters. Running a connector's logic built natively over it (the
//! benchmark does, with the ConnectWise connector's crate) differs from a
//! sandboxed call only by the sandbox itself (compiling to wasm,
//! instantiating, the WASI and `wasi:http` plumbing, the memory and CPU
//! limits), so comparing the two on the same work measures what the
//! sandbox costs.
//!
//! It is a baseline, not a second way to run a connector in production: it
//! has no memory, CPU or wall-clock limit.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use tokio::runtime::Handle;
use wasmtime_wasi_http::{Error as HttpError, WasiBody, WasiHttpHooks};

use super::http::{HttpHooks, HttpRecord};
use super::sandbox::{LogCollector, Redactor};
use super::{Call, LogLevel, LogSource, NetworkPolicy, Runtime, RuntimeError};

/// A request for [`HostTransport::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// The headers, in order (secrets included: they are never recorded).
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

/// A response from [`HostTransport::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostResponse {
    /// The status.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why [`HostTransport::send`] got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostSendError {
    /// The host refused the request (not sent): retrying cannot help.
    #[error("refused: {0}")]
    Refused(String),
    /// No response arrived (connect, TLS, timeout, reset).
    #[error("{0}")]
    Failed(String),
}

/// Blocking HTTP through a [`Runtime`]'s sender, for one call.
///
/// Its methods block on the Tokio runtime given to [`HostTransport::new`]:
/// use it from a blocking thread (`tokio::task::spawn_blocking`), never from
/// an async task.
pub struct HostTransport {
    hooks: HttpHooks,
    record: Arc<Mutex<HttpRecord>>,
    log: LogCollector,
    handle: Handle,
    started: Instant,
}

impl std::fmt::Debug for HostTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostTransport")
            .field("policy", &self.hooks.policy)
            .finish_non_exhaustive()
    }
}

impl HostTransport {
    /// A transport for one call under `policy`, redacting `secrets` from
    /// what it records, sending through `runtime`'s pooled sender on the
    /// Tokio runtime `handle`.
    pub fn new(
        runtime: &Runtime,
        policy: &NetworkPolicy,
        secrets: Vec<String>,
        handle: Handle,
    ) -> Result<HostTransport, RuntimeError> {
        let limits = &runtime.limits;
        let redactor = Arc::new(Redactor::new(secrets));
        let record = Arc::new(Mutex::new(HttpRecord::default()));
        let hooks = HttpHooks {
            policy: policy.clone(),
            sender: runtime.net.sender(policy)?,
            limits: limits.http(),
            record: record.clone(),
            redactor: redactor.clone(),
            // The native baseline runs trusted code, which writes nothing
            // in a dry run.
            read_only: false,
            // It has no call to end early, and keeps no journal.
            abort: Arc::default(),
            journal: None,
        };
        Ok(HostTransport {
            hooks,
            record,
            log: LogCollector::new(limits.max_log_lines, limits.max_log_line_bytes, redactor),
            handle,
            started: Instant::now(),
        })
    }

    /// Sends `request` and waits for the whole response.
    pub fn send(&mut self, request: &HostRequest) -> Result<HostResponse, HostSendError> {
        let uri: hyper::Uri = request
            .url
            .parse()
            .map_err(|e| HostSendError::Refused(format!("invalid URL: {e}")))?;
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(uri.clone());
        // As wasi:http does for the component.
        if let Some(authority) = uri.authority() {
            builder = builder.header(hyper::header::HOST, authority.as_str());
        }
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body: WasiBody = match &request.body {
            Some(body) => Full::new(Bytes::from(body.clone()))
                .map_err(|never| match never {})
                .boxed_unsync(),
            None => Empty::new().map_err(|never| match never {}).boxed_unsync(),
        };
        let request = builder
            .body(body)
            .map_err(|e| HostSendError::Refused(format!("invalid request: {e}")))?;
        let sent = self
            .hooks
            .send_request(request, None, Box::new(async { Ok(()) }));
        self.handle.block_on(async move {
            let (response, io) = Pin::from(sent).await.map_err(|e| match e {
                HttpError::HttpRequestDenied => {
                    HostSendError::Refused("the host denied the request".into())
                }
                other => HostSendError::Failed(other.to_string()),
            })?;
            drop(io);
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| HostSendError::Failed(format!("the response broke off: {e}")))?;
            Ok(HostResponse {
                status: parts.status.as_u16(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: body.to_bytes().to_vec(),
            })
        })
    }

    /// Adds a line to the call's log, as a connector's `log.emit` does.
    pub fn log(&mut self, level: LogLevel, message: &str) {
        self.log.push(LogSource::Connector, level, message);
    }

    /// The call's result with what the host observed, as for a sandboxed
    /// call.
    pub fn into_call<T>(self, value: T) -> Call<T> {
        let record = super::http::take(&self.record);
        Call {
            value,
            log: self.log.finish(),
            exchanges: record.exchanges,
            requests: record.requests,
            writes: record.writes,
            elapsed: self.started.elapsed(),
        }
    }
}
