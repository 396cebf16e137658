//! The native baseline: the connector's logic (`seatsync_plugin`, built for
//! the host) behind the very transport the sandbox uses.
//!
//! A [`NativeConnector`] is a blocking [`Transport`] whose requests go
//! through the same hook as the component's `wasi:http` requests: the site
//! policy, the pacing, the pooled sender, the timeouts and size cap, the
//! exchange log and the counters. What differs from a sandboxed call is only
//! the sandbox itself (compiling to wasm, instantiating, the WASI and
//! `wasi:http` plumbing, the memory and CPU limits), so comparing the two on
//! the same work measures what the sandbox costs.
//!
//! It is a baseline, not a second way to run the connector in production:
//! it has no memory, CPU or wall-clock limit.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Bytes;
use seatsync_plugin::error::ConnectorError;
use seatsync_plugin::http::{Level, Request, Response, Transport, TransportError};
use seatsync_plugin::model::{Connection, SyncReport, SyncRequest};
use tokio::runtime::Handle;
use wasmtime_wasi_http::{Error as HttpError, WasiBody, WasiHttpHooks};

use super::http::{HttpHooks, HttpRecord};
use super::sandbox::LogCollector;
use super::secrets::redactor_for;
use super::{Call, CallFailed, LogLevel, LogSource, Runtime, RuntimeError, SitePolicy};

/// A blocking [`Transport`] over a [`Runtime`]'s sender, for one call.
///
/// Its methods block on the Tokio runtime given to [`NativeConnector::new`]:
/// use it from a blocking thread (`tokio::task::spawn_blocking`), never from
/// an async task.
pub struct NativeConnector {
    hooks: HttpHooks,
    record: Arc<Mutex<HttpRecord>>,
    log: LogCollector,
    handle: Handle,
    started: Instant,
}

impl std::fmt::Debug for NativeConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeConnector")
            .field("policy", &self.hooks.policy)
            .finish_non_exhaustive()
    }
}

impl NativeConnector {
    /// A transport for one call with `conn` under `site`, sending through
    /// `runtime`'s pooled sender on the Tokio runtime `handle`.
    pub fn new(
        runtime: &Runtime,
        site: &SitePolicy,
        conn: &Connection,
        handle: Handle,
    ) -> Result<NativeConnector, RuntimeError> {
        let limits = &runtime.limits;
        let redactor = Arc::new(redactor_for(conn));
        let record = Arc::new(Mutex::new(HttpRecord::default()));
        let hooks = HttpHooks {
            policy: site.clone(),
            sender: runtime.net.sender(site)?,
            limits: limits.http(),
            record: record.clone(),
            redactor: redactor.clone(),
            // The native baseline runs the trusted connector itself, which
            // writes nothing in a dry run.
            read_only: false,
            // The native baseline (benchmarks) has no call to end early,
            // and keeps no journal.
            abort: Arc::default(),
            journal: None,
        };
        Ok(NativeConnector {
            hooks,
            record,
            log: LogCollector::new(limits.max_log_lines, limits.max_log_line_bytes, redactor),
            handle,
            started: Instant::now(),
        })
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

impl Transport for NativeConnector {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        let uri: hyper::Uri = request
            .url
            .parse()
            .map_err(|e| TransportError::refused(format!("invalid URL: {e}")))?;
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(uri.clone());
        // As wasi:http does for the component.
        if let Some(authority) = uri.authority() {
            builder = builder.header(hyper::header::HOST, authority.as_str());
        }
        for header in &request.headers {
            builder = builder.header(header.name.as_str(), header.wire_value());
        }
        let body: WasiBody = match &request.body {
            Some(body) => Full::new(Bytes::from(body.clone()))
                .map_err(|never| match never {})
                .boxed_unsync(),
            None => Empty::new().map_err(|never| match never {}).boxed_unsync(),
        };
        let request = builder
            .body(body)
            .map_err(|e| TransportError::refused(format!("invalid request: {e}")))?;
        let sent = self
            .hooks
            .send_request(request, None, Box::new(async { Ok(()) }));
        self.handle.block_on(async move {
            let (response, io) = Pin::from(sent).await.map_err(|e| match e {
                HttpError::HttpRequestDenied => {
                    TransportError::refused("the host denied the request")
                }
                other => TransportError::retryable(other.to_string()),
            })?;
            drop(io);
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| TransportError::retryable(format!("the response broke off: {e}")))?;
            Ok(Response {
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

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn log(&mut self, level: Level, message: &str) {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.log.push(LogSource::Connector, level, message);
    }
}

impl Runtime {
    /// `sync-organization` run natively: the connector's logic built for the
    /// host, on a blocking thread, through this runtime's sender (see the
    /// module docs). The same answer and observations as
    /// [`Runtime::sync_organization`], without the sandbox, for measuring
    /// what the sandbox costs.
    pub async fn native_sync_organization(
        &self,
        site: &SitePolicy,
        conn: &Connection,
        request: &SyncRequest,
    ) -> Result<Call<Result<SyncReport, ConnectorError>>, CallFailed> {
        let mut transport = NativeConnector::new(self, site, conn, Handle::current())?;
        let (conn, request) = (conn.clone(), request.clone());
        tokio::task::spawn_blocking(move || {
            let value = seatsync_plugin::sync_organization(&mut transport, &conn, &request);
            transport.into_call(value)
        })
        .await
        .map_err(|e| RuntimeError::Trap(format!("the native connector failed: {e}")).into())
    }
}
